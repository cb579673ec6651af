//! The `zhuqi-server` command line: serve the relay, or run an admin command against its data directory.

use crate::admin::{demo, history, import};
use crate::http::net::{self, Cidr, NetConfig};
use crate::storage::postgres::PostgresStorage;
use crate::storage::sqlite::SqliteStorage;
use crate::storage::{Account, RelayStorage};
use crate::{AppState, Config, MetricsAccess, app, metrics_app};
use clap::{Parser, Subcommand, ValueEnum};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use zhuqi_core::domain::{Directory, Role, User};

#[derive(Parser)]
#[command(
    name = "zhuqi-server",
    version,
    about = "zhuqi relay: sync, validation and storage for the 万人助万企 campaign"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Data {
    /// Directory of the embedded SQLite database (used when no database URL is given).
    #[arg(long, default_value = "./zhuqi-data", global = true)]
    data_dir: PathBuf,
    /// A PostgreSQL database instead of the embedded SQLite one (postgres://user@host:port/db), for
    /// several relays sharing one database.
    #[arg(long, env = "ZHUQI_DATABASE_URL", global = true)]
    database_url: Option<String>,
    /// Connections to PostgreSQL per relay.
    #[arg(long, default_value_t = crate::storage::postgres::DEFAULT_POOL_SIZE, global = true)]
    database_pool: usize,
}

/// How the relay meets the network (see `net::NetConfig`).
#[derive(clap::Args)]
struct Edge {
    /// Connections open at once; more are closed as soon as accepted.
    #[arg(long, default_value_t = NetConfig::default().max_connections)]
    max_connections: usize,
    /// Connections open at once from one address (trusted proxies are not capped).
    #[arg(long, default_value_t = NetConfig::default().max_connections_per_address)]
    max_connections_per_address: usize,
    /// Seconds a client has to send a request's headers, and to start its next request on a kept-alive
    /// connection.
    #[arg(long, default_value_t = NetConfig::default().header_read_timeout.as_secs())]
    header_timeout_secs: u64,
    /// A proxy (address or CIDR, repeatable) whose X-Forwarded-For names the client: the load balancer.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    trusted_proxies: Vec<Cidr>,
    /// Opens GET /metrics to requests with `Authorization: Bearer <token>`.
    #[arg(long, env = "ZHUQI_METRICS_TOKEN", hide_env_values = true)]
    metrics_token: Option<String>,
    /// Serves GET /metrics, to anybody, on this address of its own (e.g. 127.0.0.1:9090).
    #[arg(long, conflicts_with = "metrics_token")]
    metrics_listen: Option<SocketAddr>,
    /// Serves HTTPS with this certificate chain (PEM, the relay's own certificate first) instead of
    /// plain HTTP; without it, TLS is the load balancer's business.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

impl Edge {
    fn net(&self) -> Result<NetConfig, String> {
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(net::Tls::from_pem_files(cert, key)?),
            _ => None,
        };
        Ok(NetConfig {
            max_connections: self.max_connections.max(1),
            max_connections_per_address: self.max_connections_per_address.max(1),
            header_read_timeout: std::time::Duration::from_secs(self.header_timeout_secs.max(1)),
            trusted_proxies: self.trusted_proxies.clone(),
            tls,
        })
    }

    fn metrics(&self) -> MetricsAccess {
        match (&self.metrics_token, self.metrics_listen) {
            (Some(token), _) => MetricsAccess::Token(token.clone()),
            (None, Some(_)) => MetricsAccess::Separate,
            (None, None) => MetricsAccess::Closed,
        }
    }
}

impl Data {
    fn open(&self) -> Result<Arc<dyn RelayStorage>, String> {
        let storage: Arc<dyn RelayStorage> = match &self.database_url {
            Some(url) => Arc::new(PostgresStorage::open(url, self.database_pool).map_err(|e| e.to_string())?),
            None => Arc::new(SqliteStorage::open(&self.data_dir).map_err(|e| e.to_string())?),
        };
        let reprojected = storage.reproject().map_err(|e| e.to_string())?;
        if reprojected > 0 {
            tracing::info!("wrote the projections of {reprojected} documents after the upgrade");
        }
        Ok(storage)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serves the relay.
    Serve {
        #[command(flatten)]
        data: Data,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Seeds a demo province (once) and prints its accounts.
        #[arg(long)]
        demo: bool,
        /// Cap of the document cache, in MiB of estimated memory.
        #[arg(long, default_value_t = 64)]
        doc_cache_mib: usize,
        /// Folder of the photos devices upload (default: `blobs` in the data directory).
        #[arg(long, conflicts_with = "s3_bucket")]
        blob_dir: Option<PathBuf>,
        /// Keeps photos in this bucket of S3-compatible object storage instead of a folder (several
        /// relays may share it); credentials from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
        #[arg(long)]
        s3_bucket: Option<String>,
        /// The object storage's address (default: AWS S3); plain http:// only to a loopback address.
        #[arg(long, requires = "s3_bucket")]
        s3_endpoint: Option<String>,
        /// The object storage's region.
        #[arg(long, default_value = "us-east-1", requires = "s3_bucket")]
        s3_region: String,
        /// Days an event may take to reach the relay and still count at its own time in the
        /// figures; later ones count at their arrival and show as 补录.
        #[arg(long, default_value_t = 7, value_parser = clap::value_parser!(u32).range(0..=365))]
        offline_window_days: u32,
        /// The address enterprises' phones open the relay's web pages at, for the sign-in links
        /// it issues (`https://zhuqi.example.gov.cn`); by default, the address each request came to.
        #[arg(long, env = "ZHUQI_PUBLIC_URL")]
        public_url: Option<String>,
        #[command(flatten)]
        edge: Edge,
    },
    /// Imports a CSV file (UTF-8; Chinese or English headers) or an XLSX workbook (its first
    /// sheet). Nothing is imported if a row is bad. `problems` imports a previous platform's problem
    /// ledger with its historical times (a problem already imported is skipped: importing a file
    /// again changes nothing).
    Import {
        #[command(flatten)]
        data: Data,
        what: ImportKind,
        file: PathBuf,
    },
    /// Adds (or updates) a user.
    AddUser {
        #[command(flatten)]
        data: Data,
        #[arg(long)]
        login: String,
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = parse_role)]
        role: Role,
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        enterprise: Option<String>,
        /// Initial password (at least 8 characters); enterprise contacts may go without and use a code.
        #[arg(long)]
        password: Option<String>,
    },
    /// Issues a one-time activation code for an enterprise contact's phone.
    ActivationCode {
        #[command(flatten)]
        data: Data,
        /// Login of the enterprise contact.
        #[arg(long)]
        contact: String,
    },
    /// Lists a user's devices.
    Devices {
        #[command(flatten)]
        data: Data,
        #[arg(long)]
        login: String,
    },
    /// Revokes a device (a lost phone): it is refused and told to wipe its data.
    RevokeDevice {
        #[command(flatten)]
        data: Data,
        device_id: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ImportKind {
    Regions,
    Departments,
    Users,
    Enterprises,
    Assignments,
    /// The campaign offices' settings: answer window, working-day deadlines.
    Settings,
    /// The holiday calendar (休) and make-up working days (班).
    Calendar,
    Problems,
    Visits,
    Notices,
    /// Policies (惠企政策) with their criteria.
    Policies,
    /// Registered enterprises' employees, revenue and founding day.
    Scales,
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| "cadre, department_handler, manager or enterprise_contact".into())
}

fn state(data: &Data, config: Config) -> Result<Arc<AppState>, String> {
    Ok(AppState::new(data.open()?, config))
}

fn admin_state(data: &Data) -> Result<Arc<AppState>, String> {
    state(data, Config::default())
}

/// Parses the arguments and runs the command; exits with status 1 and a message on failure.
pub fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("错误 / error: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Serve {
            data,
            listen,
            demo,
            doc_cache_mib,
            blob_dir,
            s3_bucket,
            s3_endpoint,
            s3_region,
            offline_window_days,
            public_url,
            edge,
        } => {
            let blobs: Arc<dyn crate::blobs::BlobStore> = match s3_bucket {
                Some(bucket) => Arc::new(crate::blobs::s3::S3BlobStore::new(&crate::blobs::s3::S3Config {
                    bucket,
                    endpoint: s3_endpoint,
                    region: s3_region,
                    access_key_id: None,
                    secret_access_key: None,
                })?),
                None => {
                    let dir = blob_dir.unwrap_or_else(|| data.data_dir.join("blobs"));
                    std::fs::create_dir_all(&dir)
                        .map_err(|e| format!("cannot create the photo folder {}: {e}", dir.display()))?;
                    Arc::new(crate::blobs::FsBlobStore::new(&dir))
                }
            };
            let config = Config {
                doc_cache_bytes: doc_cache_mib << 20,
                blobs: Some(blobs),
                trusted_proxies: edge.trusted_proxies.clone(),
                metrics: edge.metrics(),
                offline_window_ms: i64::from(offline_window_days) * 86_400_000,
                public_url: public_url.map(|u| u.trim_end_matches('/').to_owned()),
                ..Config::default()
            };
            let state = state(&data, config)?;
            if demo {
                match demo::seed(&state, crate::now_ms()).map_err(|e| format!("{} ({})", e.message_zh, e.message))? {
                    Some(seeded) => {
                        println!(
                            "演示数据已生成 / demo data seeded. Password of every account: {}",
                            demo::DEMO_PASSWORD
                        );
                        for (login, role, name) in seeded.accounts {
                            println!("  {login:<28} {role:<20} {name}");
                        }
                    }
                    None => println!("演示数据已存在 / demo data already present (password {})", demo::DEMO_PASSWORD),
                }
            }
            let net_config = edge.net()?;
            let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
            rt.block_on(async move {
                let listener = net::bind(listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                let scheme = if net_config.tls.is_some() { "https" } else { "http" };
                println!("zhuqi relay listening on {scheme}://{}", listener.local_addr().map_err(|e| e.to_string())?);
                if let Some(at) = edge.metrics_listen {
                    let metrics = net::bind(at).map_err(|e| format!("cannot listen on {at}: {e}"))?;
                    println!("metrics on http://{at}/metrics");
                    let (app, net) = (metrics_app(state.clone()), NetConfig::default());
                    tokio::spawn(net::serve(metrics, app, net, || {}, std::future::pending()));
                }
                // Figures are published when their month or year closes, whether or not anyone looks.
                let st = state.clone();
                tokio::spawn(async move {
                    loop {
                        let s = st.clone();
                        let run = tokio::task::spawn_blocking(move || {
                            crate::dashboard::overview::publish_closed(&s, crate::now_ms())
                        });
                        if let Ok(Err(e)) = run.await {
                            tracing::warn!("publishing closed periods: {}", e.message);
                        }
                        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                    }
                });
                let st = state.clone();
                let refused = move || {
                    st.metrics.connections_refused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                };
                let shutdown = async {
                    let _ = tokio::signal::ctrl_c().await;
                };
                net::serve(listener, app(state), net_config, refused, shutdown).await.map_err(|e| e.to_string())
            })
        }
        Command::Import { data, what, file } => {
            let state = admin_state(&data)?;
            let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let n = match what {
                ImportKind::Regions => import::regions(&state, &bytes),
                ImportKind::Departments => import::departments(&state, &bytes),
                ImportKind::Users => import::users(&state, &bytes),
                ImportKind::Enterprises => import::enterprises(&state, &bytes),
                ImportKind::Assignments => import::assignments(&state, &bytes),
                ImportKind::Settings => import::office_settings(&state, &bytes),
                ImportKind::Calendar => import::calendar(&state, &bytes),
                ImportKind::Policies => import::policies(&state, &bytes),
                ImportKind::Scales => import::scales(&state, &bytes),
                ImportKind::Problems | ImportKind::Visits | ImportKind::Notices => {
                    let done = match what {
                        ImportKind::Problems => history::problems(&state, &bytes),
                        ImportKind::Visits => history::visits(&state, &bytes),
                        _ => history::notices(&state, &bytes),
                    }
                    .map_err(|e| e.to_string())?;
                    println!(
                        "已导入 {} 条（{} 条记录），{} 条此前已导入 / imported {} ({} events), {} already there",
                        done.written, done.events, done.already, done.written, done.events, done.already
                    );
                    return Ok(());
                }
            }
            .map_err(|e| e.to_string())?;
            println!("已导入 {n} 行 / imported {n} rows");
            Ok(())
        }
        Command::AddUser { data, login, name, role, region, department, enterprise, password } => {
            let state = admin_state(&data)?;
            if let Some(p) = &password
                && p.chars().count() < 8
            {
                return Err("password: at least 8 characters".into());
            }
            let storage = state.storage.as_ref();
            let id = storage
                .account_by_login(&login)
                .map_err(|e| e.to_string())?
                .map_or_else(|| uuid::Uuid::now_v7().to_string(), |a| a.user.id);
            let user = User {
                id: id.clone(),
                name,
                role,
                region_id: region,
                department_id: department,
                enterprise_id: enterprise,
                mobile: None,
                position: None,
                unit: None,
            };
            let account = Account { user, login, password_hash: password.as_deref().map(crate::auth::hash_password) };
            storage.upsert_directory(&Directory::default(), &[account]).map_err(|e| e.to_string())?;
            println!("user {id}");
            Ok(())
        }
        Command::ActivationCode { data, contact } => {
            let state = admin_state(&data)?;
            let storage = state.storage.as_ref();
            let account = storage
                .account_by_login(&contact)
                .map_err(|e| e.to_string())?
                .filter(|a| a.user.role == Role::EnterpriseContact)
                .ok_or("no enterprise contact with that login")?;
            let code = crate::auth::random_code();
            let expires = crate::now_ms() + crate::auth::ACTIVATION_TTL_MS;
            storage
                .create_activation_code(&crate::auth::code_hash(&code), &account.user.id, "admin", expires)
                .map_err(|e| e.to_string())?;
            println!("{code}");
            Ok(())
        }
        Command::Devices { data, login } => {
            let state = admin_state(&data)?;
            let storage = state.storage.as_ref();
            let account = storage.account_by_login(&login).map_err(|e| e.to_string())?.ok_or("no such login")?;
            for (id, name, created, revoked) in storage.devices_of(&account.user.id).map_err(|e| e.to_string())? {
                println!("{id}\t{name}\tcreated {created}\t{}", if revoked { "revoked" } else { "active" });
            }
            Ok(())
        }
        Command::RevokeDevice { data, device_id } => {
            let state = admin_state(&data)?;
            if state.storage.revoke_device(&device_id).map_err(|e| e.to_string())? {
                println!("revoked {device_id}");
                Ok(())
            } else {
                Err(format!("no device {device_id}"))
            }
        }
    }
}
