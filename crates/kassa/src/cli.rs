//! The command line. Every global option also reads a `KASSA_*` environment variable and, below
//! that, the TOML file given with `--config`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "kassa", version, about = "A signed, wallet-paid developer order API", propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args, Clone)]
pub struct GlobalArgs {
    /// TOML file with any of the settings below (flags and environment take precedence).
    #[arg(long, env = "KASSA_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    /// Where the embedded database and the generated master key live.
    #[arg(long, env = "KASSA_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://PATH` (default: DATA_DIR/kassa.db) or `postgres://...`.
    #[arg(long, env = "KASSA_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// File holding the 32-byte master key (hex or base64). KASSA_MASTER_KEY holds the key itself.
    #[arg(long, env = "KASSA_MASTER_KEY_FILE", global = true)]
    pub master_key_file: Option<PathBuf>,
    /// PostgreSQL: connections per process.
    #[arg(long, env = "KASSA_PG_POOL_SIZE", global = true)]
    pub pg_pool_size: Option<usize>,
    /// PostgreSQL: longest wait for a free pooled connection, in milliseconds.
    #[arg(long, env = "KASSA_PG_ACQUIRE_TIMEOUT_MS", global = true)]
    pub pg_acquire_timeout_ms: Option<u64>,
    /// PostgreSQL: longest wait to open a connection, in milliseconds.
    #[arg(long, env = "KASSA_PG_CONNECT_TIMEOUT_MS", global = true)]
    pub pg_connect_timeout_ms: Option<u64>,
    /// PostgreSQL: longest a statement may run (server-side statement_timeout), in milliseconds.
    #[arg(long, env = "KASSA_PG_STATEMENT_TIMEOUT_MS", global = true)]
    pub pg_statement_timeout_ms: Option<u64>,
    /// Log format: text for people, json for collectors.
    #[arg(long, env = "KASSA_LOG_FORMAT", global = true, value_enum)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server.
    Serve(ServeArgs),
    /// Create the database or bring its schema up to date.
    Migrate,
    /// Operate the business: customers, wallets, keys, services, orders.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Run only the background work (fulfilment and webhooks), without the HTTP API.
    Worker(BackgroundArgs),
    /// Run a local upstream provider (reseller-panel API v2) for demos and tests.
    ProviderSim(ProviderSimArgs),
    /// Call a kassa server as an integrator: signed requests with KASSA_API_KEY/KASSA_API_SECRET.
    Api(ApiArgs),
    /// Print the OpenAPI description of the HTTP API (what `openapi.json` holds).
    Openapi,
    /// Measure a scenario against a fresh `kassa serve` (see BENCHMARKS.md).
    Bench(BenchArgs),
}

/// `kassa bench`: seeds wallets, starts a server, drives signed load, checks the books.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// orders, orders-hot, balance, mixed, healthz, order-status or order-list; several
    /// (comma-separated) run one after another against the same server and data.
    #[arg(long, default_value = "orders")]
    pub scenario: String,
    /// Connections; in closed loop also the number of clients.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Open loop at this many requests per second (latency counted from when each was due).
    /// Without it: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Measured seconds.
    #[arg(long, default_value_t = 30.0)]
    pub duration: f64,
    /// Seconds of load before measuring.
    #[arg(long, default_value_t = 3.0)]
    pub warmup: f64,
    /// Funded wallets (customers with a key) the load is spread over.
    #[arg(long, default_value_t = 1000)]
    pub wallets: usize,
    /// Orders placed before the run (through the store), for reads on a big table.
    #[arg(long, default_value_t = 0)]
    pub preload: u64,
    /// Threads of the load generator (it shares the machine with the server).
    #[arg(long, default_value_t = 1)]
    pub client_threads: usize,
    /// Also run `pgbench -b tpcb-like` at the same client count on the same PostgreSQL.
    #[arg(long)]
    pub pgbench: bool,
    /// Extra flags for the server under test, e.g. --server-arg=--pg-pool-size=32.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    pub server_args: Vec<String>,
    /// Write the JSON report here too (it always goes to stdout).
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// `kassa api ...`: the SDK on the command line.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The server, e.g. http://127.0.0.1:8080.
    #[arg(long, env = "KASSA_BASE_URL", default_value = "http://127.0.0.1:8080", global = true)]
    pub base_url: String,
    /// The API key (bs_live_...).
    #[arg(long, env = "KASSA_API_KEY", global = true, hide_env_values = true)]
    pub api_key: Option<String>,
    /// The API secret. Prefer the environment: a flag shows in the process list.
    #[arg(long, env = "KASSA_API_SECRET", global = true, hide_env_values = true)]
    pub api_secret: Option<String>,
    /// Print the answer as JSON (for scripts) instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ApiCommand,
}

#[derive(Debug, Subcommand)]
pub enum ApiCommand {
    /// The wallet balance.
    Balance,
    /// The services this key may order.
    Services {
        /// Only this category (case-insensitive).
        #[arg(long)]
        category: Option<String>,
    },
    /// Create, read, cancel or refill one order.
    #[command(subcommand)]
    Order(ApiOrderCommand),
    /// Recent orders, newest first.
    Orders {
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        /// Orders per page (1 to 100).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Every page, not just one.
        #[arg(long)]
        all: bool,
    },
    /// The profile and identity-verification API.
    #[command(subcommand)]
    Profile(ApiProfileCommand),
    /// The server's clock and this machine's skew from it.
    Time,
}

#[derive(Debug, Subcommand)]
pub enum ApiOrderCommand {
    /// Place a wallet-paid order.
    Create {
        #[arg(long)]
        service: i64,
        #[arg(long)]
        quantity: u64,
        #[arg(long)]
        link: String,
        /// A file with one comment per line (custom-comment services).
        #[arg(long)]
        comments_file: Option<PathBuf>,
        /// Your own reference for the order (client_order_ref).
        #[arg(long = "ref")]
        client_order_ref: Option<String>,
        /// Reuse a key to retry an order safely; one is made when absent.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Show one order.
    Get { id: String },
    /// Cancel an order (refunded at once if no provider has it yet).
    Cancel { id: String },
    /// Ask for a refill of a completed or partial order.
    Refill {
        id: String,
        /// Reuse the key a refill that ended without an outcome printed, to learn what it did
        /// without asking the provider twice; one is made when absent.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApiProfileCommand {
    /// Show the profile.
    Me,
    /// Change profile fields; only the ones given change.
    Edit(ProfileEditArgs),
    /// File an identity verification with up to two documents (JPEG, PNG or PDF files).
    Verify {
        /// passport, driving_license or nid.
        #[arg(long = "type")]
        verify_type: String,
        #[arg(long)]
        first_name: String,
        /// 1 (male) or 2 (female).
        #[arg(long)]
        gender: u8,
        #[arg(long)]
        id_number: String,
        #[arg(long)]
        document1: Option<PathBuf>,
        #[arg(long)]
        document2: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ProfileEditArgs {
    #[arg(long)]
    pub first_name: Option<String>,
    #[arg(long)]
    pub last_name: Option<String>,
    #[arg(long)]
    pub username: Option<String>,
    #[arg(long)]
    pub email: Option<String>,
    #[arg(long)]
    pub phone: Option<String>,
    #[arg(long)]
    pub language: Option<String>,
    #[arg(long)]
    pub country: Option<String>,
    #[arg(long)]
    pub city: Option<String>,
    #[arg(long)]
    pub address: Option<String>,
    #[arg(long)]
    pub bio: Option<String>,
}

/// The background work: sending orders to providers, polling them, delivering webhooks.
#[derive(Debug, Args, Clone)]
pub struct BackgroundArgs {
    /// How often the workers look for work, in milliseconds.
    #[arg(long, env = "KASSA_WORKER_TICK_MS", default_value_t = 1000)]
    pub worker_tick_ms: u64,
    /// Time between two status checks of one order at its provider, in milliseconds.
    #[arg(long, env = "KASSA_POLL_INTERVAL_MS", default_value_t = 30_000)]
    pub poll_interval_ms: u64,
    /// Longest wait for a provider's answer, in milliseconds.
    #[arg(long, env = "KASSA_PROVIDER_TIMEOUT_MS", default_value_t = 30_000)]
    pub provider_timeout_ms: u64,
    /// First retry delay of a submission that could not reach its provider (doubles each time).
    #[arg(long, env = "KASSA_SUBMIT_RETRY_BASE_MS", default_value_t = 2000)]
    pub submit_retry_base_ms: u64,
    /// Attempts to reach a provider before an unsent order goes to review.
    #[arg(long, env = "KASSA_SUBMIT_MAX_ATTEMPTS", default_value_t = 6)]
    pub submit_max_attempts: u32,
    /// Webhook retry schedule (delay before each attempt; the first is made at once, so it starts
    /// with 0s), e.g. 0s,5s,5m,30m,2h,5h,10h,10h.
    #[arg(long, env = "KASSA_WEBHOOK_SCHEDULE")]
    pub webhook_schedule: Option<String>,
    /// Deliver webhooks to loopback and private addresses (off by default: SSRF guard).
    #[arg(long, env = "KASSA_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
}

#[derive(Debug, Args)]
pub struct ProviderSimArgs {
    #[arg(long, default_value = "127.0.0.1:9090")]
    pub listen: SocketAddr,
    /// The API key clients must send.
    #[arg(long, env = "KASSA_SIM_KEY", default_value = "sim-key")]
    pub key: String,
    /// Seconds a new order stays Pending, then In progress.
    #[arg(long, default_value_t = 2)]
    pub pending_secs: u64,
    #[arg(long, default_value_t = 5)]
    pub in_progress_secs: u64,
    /// Extra delay on every answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// How long a `timeout` fault holds its answer, in milliseconds.
    #[arg(long, default_value_t = 60_000)]
    pub timeout_ms: u64,
    /// Fault rates, 0.0 to 1.0: HTTP 500, timeouts, malformed JSON, connection resets.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    pub timeout_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    pub malformed_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    pub reset_rate: f64,
    /// Shares of orders that end Partial or Canceled (the rest complete).
    #[arg(long, default_value_t = 0.0)]
    pub partial_rate: f64,
    #[arg(long, default_value_t = 0.0)]
    pub cancel_rate: f64,
    /// Behave like a panel that knows only `status` with `order=` (no multi-status `orders=`).
    #[arg(long)]
    pub single_status: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "KASSA_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// On an empty database, create a demo customer, wallet, services and key, and print them.
    #[arg(long)]
    pub demo: bool,
    /// Proxy addresses (CIDR) whose X-Forwarded-For is believed; repeat or comma-separate.
    #[arg(long = "trusted-proxy", env = "KASSA_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Wallet currency of a new database (ISO code).
    #[arg(long, env = "KASSA_CURRENCY")]
    pub currency: Option<String>,
    /// Decimals of the wallet currency's minor unit for a new database.
    #[arg(long, env = "KASSA_CURRENCY_DECIMALS")]
    pub currency_decimals: Option<u8>,
    /// Redis for rate limits shared by every node (redis://host:port). Without it each process
    /// limits on its own.
    #[arg(long, env = "KASSA_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// Longest a request may take, in seconds, before it is answered 503.
    #[arg(long, env = "KASSA_REQUEST_TIMEOUT_SECS")]
    pub request_timeout_secs: Option<u64>,
    /// Allowed distance of BB-ACCESS-TIMESTAMP from the server clock, in seconds (profile API).
    #[arg(long, env = "KASSA_PROFILE_TIMESTAMP_WINDOW_SECS")]
    pub profile_timestamp_window_secs: Option<u64>,
    /// Refuse a signed order request that already placed an order, whatever its idempotency key
    /// (protects against replays of captured requests; identical orders signed in the same
    /// second then need a client_order_ref or a second apart).
    #[arg(long, env = "KASSA_ORDER_REPLAY_GUARD", default_value_t = true, action = clap::ArgAction::Set)]
    pub order_replay_guard: bool,
    /// Failed authentications (unknown key, wrong signature) one client address may have per
    /// minute; past it the address is refused (429) for a while before its key is looked up.
    /// 0 = no limit.
    #[arg(long, env = "KASSA_AUTH_FAILURES_PER_MINUTE", default_value_t = 60)]
    pub auth_failures_per_minute: u32,
    /// Serve the API only; run the background work with `kassa worker` elsewhere.
    #[arg(long, env = "KASSA_NO_WORKER")]
    pub no_worker: bool,
    /// With --demo: wire the demo services to this smm-v2 provider (e.g. a `kassa provider-sim`).
    #[arg(long, requires = "demo")]
    pub demo_provider_url: Option<String>,
    #[arg(long, requires = "demo_provider_url", default_value = "sim-key")]
    pub demo_provider_key: String,
    #[command(flatten)]
    pub background: BackgroundArgs,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Customers (each has one wallet).
    #[command(subcommand)]
    Customer(CustomerCommand),
    /// Wallet balances and the ledger.
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// API keys.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The service catalogue.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Orders.
    #[command(subcommand)]
    Order(OrderCommand),
    /// Identity verifications: the review queue, the documents, the decisions.
    #[command(subcommand)]
    Verification(VerificationCommand),
    /// Upstream providers that fulfil orders.
    #[command(subcommand)]
    Provider(ProviderCommand),
    /// Customers' refill requests: those of manual services wait here for an operator.
    #[command(subcommand)]
    Refill(RefillCommand),
    /// Customers' webhook endpoints and their delivery log.
    #[command(subcommand)]
    Webhook(WebhookCommand),
    /// Check the books: balances against the ledger, orders against their charges and refunds.
    Books {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CustomerCommand {
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Stop a customer's keys from working (answers customer_not_found).
    Disable {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    Enable {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Add money (a top-up).
    Credit {
        #[arg(long)]
        customer: i64,
        /// In the store currency, e.g. 100.00.
        #[arg(long)]
        amount: String,
        #[arg(long)]
        note: Option<String>,
        /// Unique reference; a retried command with the same reference credits once.
        #[arg(long)]
        reference: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Take money out (an adjustment); refused if the wallet does not cover it.
    Debit {
        #[arg(long)]
        customer: i64,
        #[arg(long)]
        amount: String,
        #[arg(long)]
        note: Option<String>,
        #[arg(long)]
        reference: Option<String>,
        /// Required: taking money from a customer is deliberate.
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        json: bool,
    },
    Show {
        #[arg(long)]
        customer: i64,
        #[arg(long)]
        json: bool,
    },
    /// The latest ledger entries of a wallet.
    Ledger {
        #[arg(long)]
        customer: i64,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the secret is shown once.
    Create {
        #[arg(long)]
        customer: i64,
        /// Allowed client addresses (CIDR or single IP); repeat. Default: anywhere.
        #[arg(long = "allow-ip")]
        allow_ip: Vec<String>,
        #[arg(long, default_value_t = 600)]
        rate_limit_per_minute: u32,
        /// Services this key may order; repeat. Default: all.
        #[arg(long = "service")]
        services: Vec<i64>,
        #[arg(long)]
        json: bool,
    },
    Disable {
        key: String,
        #[arg(long)]
        json: bool,
    },
    Enable {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke for good (a revoked key cannot be enabled again).
    Revoke {
        key: String,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        category: String,
        /// default, custom_comments or package.
        #[arg(long = "type", default_value = "default")]
        kind: String,
        #[arg(long)]
        price_per_1000: String,
        #[arg(long)]
        min: u64,
        #[arg(long)]
        max: u64,
        #[arg(long)]
        json: bool,
    },
    /// Change a service; orders already placed keep their price.
    Update {
        id: i64,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        category: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long)]
        price_per_1000: Option<String>,
        #[arg(long)]
        min: Option<u64>,
        #[arg(long)]
        max: Option<u64>,
        /// true to offer the service, false to withdraw it.
        #[arg(long)]
        active: Option<bool>,
        /// Fulfil through this provider (name or id), as its service --provider-service.
        #[arg(long, requires = "provider_service")]
        provider: Option<String>,
        #[arg(long, requires = "provider")]
        provider_service: Option<String>,
        /// Fulfil by hand again (no provider).
        #[arg(long, conflicts_with = "provider")]
        no_provider: bool,
        /// Whether customers may cancel its orders (POST /api/v1/orders/{id}/cancel).
        #[arg(long)]
        cancel_allowed: Option<bool>,
        /// Whether customers may ask for refills (POST /api/v1/orders/{id}/refill).
        #[arg(long)]
        refill_allowed: Option<bool>,
        #[arg(long)]
        json: bool,
    },
    List {
        /// Include withdrawn services.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum OrderCommand {
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 1)]
        page: u32,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    Show {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Move an order forward: processing, in_progress or completed.
    SetStatus {
        id: String,
        status: String,
        #[arg(long)]
        json: bool,
    },
    /// Mark partly delivered and refund the undelivered share (charge*remains/quantity, rounded
    /// down), once. An order its provider has (or may have) needs --confirm, as for cancel.
    Partial {
        id: String,
        #[arg(long)]
        remains: u64,
        /// The provider will deliver no more of it than it has: refund the rest anyway.
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        json: bool,
    },
    /// Cancel and refund the whole charge, once. An order its provider has (or may have: in
    /// needs_review) needs --confirm: cancel it at the provider first.
    Cancel {
        id: String,
        /// The provider does not have the order, or has canceled it: refund it anyway.
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        json: bool,
    },
    /// Reconcile an order in needs_review: the provider has it under this id.
    Attach {
        id: String,
        #[arg(long)]
        provider_order: String,
        #[arg(long)]
        json: bool,
    },
    /// Reconcile an order in needs_review: the provider does not have it; send it again.
    Requeue {
        id: String,
        /// Required: sending again is only right if the provider surely lacks the order.
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        json: bool,
    },
    /// Close the review of a completed or refunded order once it is settled at the provider
    /// (a duplicate canceled there, say); changes nothing else.
    Dismiss {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Refund a completed order in full (status refunded), once.
    Refund {
        id: String,
        /// Required: a refund of delivered work is deliberate.
        #[arg(long)]
        confirm: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum VerificationCommand {
    /// Verifications, oldest first (the review queue reads top-down).
    List {
        /// in_process, completed, rejected or cancelled.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One verification with its id number (decrypted), documents and audit trail.
    Show {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// Decrypt one document to a new file (mode 0600; an existing file is never overwritten).
    Document {
        id: i64,
        /// 1 or 2.
        #[arg(value_parser = clap::value_parser!(u8).range(1..=2))]
        slot: u8,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Accept the identity: the customer becomes verified.
    Approve(ReviewArgs),
    /// Refuse this submission; the customer may submit again.
    Reject(ReviewArgs),
    /// Close the case for good; the customer cannot submit again.
    Cancel(ReviewArgs),
}

#[derive(Debug, Args)]
pub struct ReviewArgs {
    pub id: i64,
    /// Why, for the audit trail (and for support, when the customer asks).
    #[arg(long)]
    pub reason: Option<String>,
    /// Who decides, for the audit trail (default: KASSA_ACTOR, else the login name, else
    /// `uid:N@host`).
    #[arg(long, env = "KASSA_ACTOR")]
    pub actor: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProviderCommand {
    /// Register a provider: `smm-v2` (needs --url and --key) or `manual`.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "smm-v2")]
        kind: String,
        #[arg(long)]
        url: Option<String>,
        /// The provider's API key (stored encrypted). Also read from KASSA_PROVIDER_KEY.
        #[arg(long, env = "KASSA_PROVIDER_KEY", hide_env_values = true)]
        key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    /// The provider's own service catalogue.
    Services {
        /// Provider name or id.
        provider: String,
        #[arg(long)]
        json: bool,
    },
    /// The provider's balance.
    Balance {
        provider: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RefillCommand {
    /// Refill requests, newest first. `pending`: waiting for an operator (a manual service's, or
    /// one without a provider refill id whose answer from the provider was lost: check there);
    /// `requested`: asked of the provider; `requesting`: being asked right now; `completed`,
    /// `rejected`: closed by an operator.
    List {
        #[arg(long)]
        status: Option<String>,
        /// Only this order's refills.
        #[arg(long)]
        order: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Close a pending or requested refill once it is done (`--status completed`) or will not be
    /// (`--status rejected`). Moves no money.
    Close {
        id: i64,
        #[arg(long)]
        status: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum WebhookCommand {
    /// Register an endpoint for a customer; the signing secret is shown once.
    Add {
        #[arg(long)]
        customer: i64,
        #[arg(long)]
        url: String,
        /// Accept a loopback or private address (for closed networks).
        #[arg(long)]
        allow_private: bool,
        #[arg(long)]
        json: bool,
    },
    List {
        #[arg(long)]
        customer: Option<i64>,
        #[arg(long)]
        json: bool,
    },
    Remove {
        id: i64,
        #[arg(long)]
        json: bool,
    },
    /// The delivery log, newest first.
    Deliveries {
        #[arg(long)]
        endpoint: Option<i64>,
        #[arg(long)]
        customer: Option<i64>,
        /// pending, delivered or failed.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Send a delivery again, with a fresh retry schedule.
    Replay {
        id: i64,
        #[arg(long)]
        json: bool,
    },
}
