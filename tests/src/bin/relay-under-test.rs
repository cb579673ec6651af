//! The relay binary, built inside the test package so that tests can start it as a process.

fn main() {
    zhuqi_server::cli::main();
}
