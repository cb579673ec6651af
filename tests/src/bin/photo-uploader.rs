//! A phone's photo uploads as a process of their own, for the test that kills it mid-upload
//! (`tests/photos.rs`): opens the device store at the path given, with the identity given as JSON,
//! uploads its queued photos to the relay, and prints `<sha256> <state> <bytes the relay holds>` as
//! each chunk is acknowledged, waiting `pause_ms` between chunks so that the test can kill it midway;
//! at the end, its report and its peak resident memory (`peak_kib N`, for the upload benchmark).

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, relay, store, identity, pause_ms] = &args[..] else {
        eprintln!("usage: photo-uploader <relay url> <store path> <identity JSON> <pause ms>");
        std::process::exit(2);
    };
    let identity: zhuqi_core::store::Identity = serde_json::from_str(identity).expect("identity JSON");
    let store = zhuqi_core::Store::open(std::path::Path::new(store), identity).expect("device store");
    let client = zhuqi_core::sync::SyncClient::new(relay).expect("relay url");
    let pause = std::time::Duration::from_millis(pause_ms.parse().expect("pause in ms"));
    let report = client.upload_photos_reporting(&store, &mut |u| {
        use std::io::Write;
        println!("{} {} {}", u.sha256, u.state, u.uploaded);
        std::io::stdout().flush().unwrap();
        std::thread::sleep(pause);
    });
    println!("report {report:?}");
    // The process's peak resident memory, for the upload benchmark.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:")).map_or("0", |v| v.trim().trim_end_matches("kB").trim());
    println!("peak_kib {peak}");
}
