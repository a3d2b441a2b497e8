//! Generated bindings of the `translator` world; nothing else lives here.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    // Every import may await host I/O without holding a thread and may trap on host bugs
    // (outer `wasmtime::Result`). Not `tracing`: it would log arguments such as resolved config
    // secrets, credential patches and tokenised WebSocket URLs.
    imports: { default: async | trappable },
    exports: { default: async },
    with: {
        "gateway:provider/http-client.body": crate::wasm::imports::http_client::BodyHandle,
        "gateway:provider/websocket.connection": crate::wasm::imports::websocket::ConnectionHandle,
    },
});
