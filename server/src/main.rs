//! The `zhuqi-server` binary: see `cli`.

zhuqi_server::relay_allocator!();

fn main() {
    zhuqi_server::cli::main();
}
