//! The relay binary, built inside the test package so that tests can start it as a process: the
//! same `main` and allocator as `zhuqi-server`'s.

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// As `zhuqi-server`'s: freed pages go back to the system after a second.
#[allow(non_upper_case_globals)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static malloc_conf: &[u8] = b"background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() {
    zhuqi_server::cli::main();
}
