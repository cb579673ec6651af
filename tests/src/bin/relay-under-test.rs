//! The relay binary, built inside the test package so that tests can start it as a process: the
//! same `main` and allocator as `zhuqi-server`'s.

zhuqi_server::relay_allocator!();

fn main() {
    zhuqi_server::cli::main();
}
