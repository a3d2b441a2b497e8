//! Generated bindings of the `translator` world; nothing else lives here.

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    // Every import may await host I/O without holding a thread, may trap on host bugs
    // (outer `wasmtime::Result`), and is traced.
    imports: { default: async | trappable | tracing },
    exports: { default: async },
    with: {
        "gateway:provider/http-client.body": crate::wasm::imports::http_client::BodyHandle,
        "gateway:provider/websocket.connection": crate::wasm::imports::websocket::ConnectionHandle,
    },
});
