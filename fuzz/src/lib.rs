//! What the fuzz targets share with the seed writer (`src/bin/seeds.rs`): the harnesses themselves
//! ([`request::run`] for `sync_request`, [`push::run`] for `validate_push`), the relay-side world
//! they validate against ([`world`]), and how a panic is told apart from a refusal ([`guard`]).

pub mod push;
pub mod request;
pub mod world;

/// Reads a fuzz input as a sequence of choices. Past the end every read answers zero, so a short
/// input is a valid one, and zero is always the first (usually the well-formed) choice.
pub struct Reader<'a> {
    data: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data }
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.u8() & 1 == 1
    }

    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    pub fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | (u64::from(self.u32()) << 32)
    }

    /// A choice among `n` (1 to 256) alternatives.
    pub fn below(&mut self, n: usize) -> usize {
        usize::from(self.u8()) % n.max(1)
    }

    /// One of `items` (not empty).
    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len())]
    }

    /// Up to `max` bytes, their number read first.
    pub fn bytes(&mut self, max: usize) -> &'a [u8] {
        let n = usize::from(self.u8()).min(max);
        self.take(n)
    }

    /// A short string of the input's bytes (lossily UTF-8).
    pub fn string(&mut self) -> String {
        String::from_utf8_lossy(self.bytes(64)).into_owned()
    }

    /// The next `n` bytes (fewer if the input ends).
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        taken
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}

/// Panics, told apart: the relay answers some of Automerge's panics as refusals on purpose
/// (`catch_unwind` around decoding and applying a change), and the harness skips inputs whose
/// construction panics inside Automerge's encoder (code the relay never runs). Only a panic that
/// escapes the code under test is a crash.
///
/// libfuzzer-sys aborts on every panic, caught or not; [`guard::run`] replaces that hook with one
/// that only remembers the panic, and aborts itself, after printing it, when one escapes. With
/// `ZHUQI_FUZZ_ANY_PANIC=1` every panic in the code under test aborts, even one the relay catches;
/// with `ZHUQI_FUZZ_ANY_PANIC=log` the first at each place is printed (`-runs=0` over a corpus lists
/// the places the relay's own `catch_unwind` is reached).
pub mod guard {
    use std::backtrace::Backtrace;
    use std::cell::{Cell, RefCell};
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::sync::Once;

    thread_local! {
        /// The last panic: its message and where (a backtrace under `RUST_BACKTRACE=1`, resolved
        /// only if printed: resolving costs seconds and hundreds of megabytes).
        static LAST: RefCell<Option<(String, Backtrace)>> = const { RefCell::new(None) };
        static IN_RELAY: Cell<bool> = const { Cell::new(false) };
        /// The input being run, kept under `ZHUQI_FUZZ_ANY_PANIC=log` to be printed.
        static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }

    fn mode() -> &'static str {
        static MODE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        MODE.get_or_init(|| std::env::var("ZHUQI_FUZZ_ANY_PANIC").unwrap_or_default())
    }

    fn install() {
        static HOOK: Once = Once::new();
        HOOK.call_once(|| {
            let mode = mode();
            let seen = std::sync::Mutex::new(std::collections::HashSet::new());
            std::panic::set_hook(Box::new(move |info| {
                let backtrace = Backtrace::capture();
                if IN_RELAY.with(Cell::get) {
                    if mode == "1" {
                        eprintln!("panic in the code under test (ZHUQI_FUZZ_ANY_PANIC=1): {info}\n{backtrace}");
                        std::process::abort();
                    }
                    let place = info.location().map(|l| l.to_string()).unwrap_or_default();
                    if mode == "log" && seen.lock().unwrap().insert(place) {
                        let input = INPUT.with(|i| i.borrow().iter().map(|b| format!("{b:02x}")).collect::<String>());
                        eprintln!("panic in the code under test (ZHUQI_FUZZ_ANY_PANIC=log): {info}\ninput: {input}\n{backtrace}");
                    }
                }
                LAST.with(|l| *l.borrow_mut() = Some((info.to_string(), backtrace)));
            }));
        });
    }

    /// Runs `f` on one input; aborts (a crash for libFuzzer) if a panic escapes it.
    pub fn run(data: &[u8], f: impl FnOnce(&[u8])) {
        install();
        IN_RELAY.with(|c| c.set(false));
        if mode() == "log" {
            INPUT.with(|i| *i.borrow_mut() = data.to_vec());
        }
        if catch_unwind(AssertUnwindSafe(|| f(data))).is_err() {
            match LAST.with(|l| l.borrow_mut().take()) {
                Some((message, backtrace)) => eprintln!("panic escaped the code under test: {message}\n{backtrace}"),
                None => eprintln!("panic escaped the code under test"),
            }
            std::process::abort();
        }
    }

    /// Calls the code under test (the relay): a panic it catches itself is its answer, one that
    /// escapes reaches [`run`].
    pub fn relay<T>(f: impl FnOnce() -> T) -> T {
        IN_RELAY.with(|c| c.set(true));
        let out = f();
        IN_RELAY.with(|c| c.set(false));
        out
    }

    /// Calls harness code that may panic inside Automerge (building an input): `None` skips the input.
    pub fn harness<T>(f: impl FnOnce() -> T) -> Option<T> {
        catch_unwind(AssertUnwindSafe(f)).ok()
    }
}
