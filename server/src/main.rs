//! The `zhuqi-server` binary: see `cli`.

/// jemalloc, because glibc's allocator kept several times the relay's live heap resident (freed
/// pages held in per-thread arenas; measured in docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Freed pages go back to the system after a second (background threads purge them), not ten.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() {
    zhuqi_server::cli::main();
}
