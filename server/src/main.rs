//! The `zhuqi-server` binary: see `cli`.

fn main() {
    zhuqi_server::cli::main();
}
