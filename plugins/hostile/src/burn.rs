//! Resource burners that never return: the host's CPU and memory limits must stop them.

use std::hint::black_box;

/// Bytes allocated per round of the memory bomb.
const CHUNK: usize = 1 << 20;
/// Writing one byte per OS page forces the host to actually commit the memory.
const PAGE: usize = 4096;

/// Spins forever. `black_box` keeps the optimiser from proving the loop useless.
pub(crate) fn spin() -> ! {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

/// Allocates and touches 1 MiB chunks until allocation fails, which aborts (traps).
pub(crate) fn hoard_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = vec![0u8; CHUNK];
        chunk.iter_mut().step_by(PAGE).for_each(|b| *b = 0xA5);
        hoard.push(chunk);
        // Keeps the hoard observable, so the allocations cannot be optimised away.
        black_box(&mut hoard);
    }
}
