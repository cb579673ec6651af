//! The `zhuqi-server` binary: see `cli`.

/// mimalloc gives freed memory back to the system: with glibc's allocator the relay kept several
/// times its live heap resident (per-thread arenas holding freed pages; see docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    zhuqi_server::cli::main();
}
