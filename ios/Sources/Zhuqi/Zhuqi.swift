// The module apps import (`import Zhuqi`): it re-exports the API generated from the Rust core —
// ZhuqiClient, its records and enums, ZhuqiError, SyncListener, Logger.
@_exported import ZhuqiFFI
