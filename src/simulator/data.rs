//! The simulator's dataset: deterministic from a seed, anchored at the moment the
//! simulator starts, and alive: traffic is consumed continuously (busy by day,
//! quiet by night: [`super::rhythm`]), one sub-account bursts daily, recharges and
//! allow-listed IPs keep arriving, the stock moves and a top-up waiting for
//! payment is ordered every day, so every answer is computed from the time of
//! the request.

use chrono::{DateTime, Days, FixedOffset, Utc};
use serde_json::{json, Value};

use super::rhythm::{burst_seconds, busy_seconds, pool_used};

/// The zone the simulated providers write their timestamps in.
pub fn provider_zone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("constant offset is valid")
}

pub(super) const KB_PER_GB: f64 = 1024.0 * 1024.0;
const MB_PER_GB: f64 = 1024.0;
const DAY: i64 = 86_400;

/// One gateway-family account (BestProxy or ProxyLite).
#[derive(Debug, Clone)]
pub struct GatewayAccount {
    pub pools: Vec<Pool>,
    pub packages: Vec<Package>,
    pub sub_accounts: Vec<SubAccount>,
    pub static_ips: Vec<StaticIp>,
    pub allowlist: Vec<AllowedIp>,
    /// What the provider has for sale, per country.
    pub stock: Vec<RegionStock>,
}

/// An allow-listed IP, on the list from `listed_in` seconds after the start
/// (negative: before it).
#[derive(Debug, Clone)]
pub struct AllowedIp {
    pub ip: String,
    pub product_type: u32,
    pub remark: String,
    pub listed_in: i64,
}

/// A country's stock; each figure swings by a fifth around its base over six
/// hours, from its own phase.
#[derive(Debug, Clone)]
pub struct RegionStock {
    pub country: &'static str,
    pub name: &'static str,
    pub datacenter: f64,
    pub residential: f64,
    pub host_pool: f64,
    pub phase: f64,
}

/// An order of a gateway-family account: each purchase the simulator makes (a
/// package or a static IP) paid when it was made, or the daily top-up that
/// waits for payment.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: u64,
    pub trade_no: String,
    pub product_type: u32,
    pub amount: u32,
    pub unit_price: f64,
    /// 0 pending, 1 paid, 2 cancelled (not paid in time), 3 refunded.
    pub status: u32,
    /// Seconds after the start (negative: before it).
    pub created_in: i64,
    /// When it was paid, seconds after the start; `None` while unpaid.
    pub paid_in: Option<i64>,
    /// The payment deadline of an unpaid order, seconds after the start.
    pub deadline_in: Option<i64>,
}

impl Order {
    /// What was paid, or is to be paid: no discount, no fee.
    pub fn pay_fee(&self) -> f64 {
        f64::from(self.amount) * self.unit_price
    }
}

/// A top-up of the dynamic pool is ordered every day, 10 minutes before the
/// day's mark since the start, and waits a day for payment, which never
/// comes: at any time exactly one order is pending.
pub const PENDING_TOP_UP_EVERY: i64 = DAY;
const PENDING_TOP_UP_LEAD: i64 = 600;

/// The kinds of stock a region list answers for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockList {
    /// `ip/static-ip-region?isp=0`.
    Datacenter,
    /// `ip/static-ip-region?isp=1`.
    Residential,
    /// `host-pool/regions`.
    HostPool,
}

/// A traffic pool (product type) that drains at `rate_kb_per_sec`.
#[derive(Debug, Clone)]
pub struct Pool {
    pub product_type: u32,
    pub total_kb: f64,
    pub effective_total_kb: f64,
    pub used_at_start_kb: f64,
    pub rate_kb_per_sec: f64,
    pub expiring_kb: f64,
    pub expired_kb: f64,
    pub package_counts: [u32; 4],
}

/// A purchased package expiring `expires_in` seconds after the simulator starts.
#[derive(Debug, Clone)]
pub struct Package {
    pub id: u64,
    pub product_type: u32,
    pub expires_in: i64,
}

#[derive(Debug, Clone)]
pub struct SubAccount {
    pub id: u64,
    pub username: String,
    pub password: String,
    pub remark: String,
    pub product_type: u32,
    pub used_at_start_kb: f64,
    /// The average rate; the use follows the daily rhythm ([`super::rhythm`]).
    pub rate_kb_per_sec: f64,
    /// The extra rate while a burst is under way (the leaked credential of
    /// [`LEAKED_ACCOUNT`]); 0 for every other sub-account.
    pub burst_kb_per_sec: f64,
    pub limit_gb: u32,
    pub enabled: bool,
}

/// The sub-account of the BestProxy account whose credential leaked: it
/// bursts at [`BURST_GIB_PER_HOUR`] for 20 minutes a day, the first burst
/// under way when the simulator starts ([`super::rhythm::bursting`]).
pub const LEAKED_ACCOUNT: &str = "user002";
/// The leaked sub-account's extra use while it bursts, GiB an hour.
pub const BURST_GIB_PER_HOUR: f64 = 12.0;

/// A static IP expiring `expires_in` seconds after the simulator starts.
#[derive(Debug, Clone)]
pub struct StaticIp {
    pub id: u64,
    pub ip: String,
    pub product_type: u32,
    pub status: u32,
    pub country: &'static str,
    pub expires_in: i64,
}

/// An IPWeb agent account: two pools, its customers and its recharges.
#[derive(Debug, Clone)]
pub struct IpwebAccount {
    /// `account` and `account2`: (recharged MB, consumed MB at start, MB per second).
    pub pools: [(f64, f64, f64); 2],
    pub customers: Vec<Customer>,
    /// NNI traffic, MB per second.
    pub nni_mb_per_sec: f64,
    /// Recharges and consumption rows from before the start; more arrive while
    /// the simulator runs ([`IpwebAccount::recharges`]).
    pub recharges: Vec<Recharge>,
}

/// Which recharge list a row belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RechargeList {
    /// `rechargeFlowListForMe`: credited to the agent.
    ForMe,
    /// `myRechargeFlowList`: the agent's to its customers.
    Mine,
}

/// A row of a recharge list: `flow_mb` is negative for consumption, as in the
/// document's example.
#[derive(Debug, Clone)]
pub struct Recharge {
    pub list: RechargeList,
    pub customer_id: u64,
    pub account: String,
    pub flow_mb: f64,
    /// Seconds after the start (negative: before it).
    pub at: i64,
}

/// A customer recharge arrives every this many seconds while the simulator runs.
pub const GIVEN_RECHARGE_EVERY: i64 = 600;

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: u64,
    pub user_name: String,
    pub upload_mb_per_sec: f64,
    pub download_mb_per_sec: f64,
}

/// Sizes of the generated dataset.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    pub sub_accounts: usize,
    pub static_ips: usize,
    pub customers: usize,
}

/// The three simulated providers' data, from one seed.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub bestproxy: GatewayAccount,
    pub proxylite: GatewayAccount,
    pub ipweb: IpwebAccount,
    /// The account behind the simulated API of the demo's custom target.
    pub custom: GatewayAccount,
}

impl Dataset {
    pub fn generate(seed: u64, sizes: Sizes) -> Dataset {
        let mut rng = fastrand::Rng::with_seed(seed);
        // BestProxy: a healthy pool; ProxyLite: a pool below 10 % that drains fast.
        let mut bestproxy = gateway_account(&mut rng, sizes, 0.55, 1);
        // Its unlimited sub-account leaked: it bursts now and then.
        if let Some(leaked) = bestproxy
            .sub_accounts
            .iter_mut()
            .find(|a| a.username == LEAKED_ACCOUNT)
        {
            leaked.burst_kb_per_sec = BURST_GIB_PER_HOUR * KB_PER_GB / 3600.0;
        }
        let mut proxylite = gateway_account(&mut rng, sizes, 0.93, 2);
        let ipweb = ipweb_account(&mut rng, sizes);
        // The stock draws from its own generator, so that the accounts stay
        // what they were before the stock was simulated.
        let mut stock_rng = fastrand::Rng::with_seed(seed.wrapping_add(1));
        bestproxy.stock = stock(&mut stock_rng);
        proxylite.stock = stock(&mut stock_rng);
        // The custom API's account, from its own generator too: a pool just
        // below 10 %, so that the demo's alerts fire for a custom target as well.
        let mut custom_rng = fastrand::Rng::with_seed(seed.wrapping_add(2));
        let custom = gateway_account(&mut custom_rng, sizes, 0.91, 3);
        Dataset {
            bestproxy,
            proxylite,
            ipweb,
            custom,
        }
    }
}

fn gateway_account(
    rng: &mut fastrand::Rng,
    sizes: Sizes,
    used_share: f64,
    id_base: u64,
) -> GatewayAccount {
    let dynamic_total = 500.0 * KB_PER_GB;
    let pools = vec![
        Pool {
            product_type: 9,
            total_kb: 1200.0 * KB_PER_GB,
            effective_total_kb: dynamic_total,
            used_at_start_kb: dynamic_total * used_share,
            // About 2.5 GiB an hour: it visibly drains between polls and runs dry
            // within days on the low pool, so forecasts have something to say.
            rate_kb_per_sec: 2.5 * KB_PER_GB / 3600.0 * (1.0 + rng.f64()),
            expiring_kb: 12.0 * KB_PER_GB,
            expired_kb: 3.5 * KB_PER_GB,
            package_counts: [6, 4, 1, 2],
        },
        Pool {
            product_type: 12,
            total_kb: 100.0 * KB_PER_GB,
            effective_total_kb: 100.0 * KB_PER_GB,
            used_at_start_kb: 20.0 * KB_PER_GB,
            rate_kb_per_sec: 0.0,
            expiring_kb: 0.0,
            expired_kb: 0.0,
            package_counts: [1, 1, 0, 0],
        },
    ];
    let packages = [
        (9, 2 * DAY + 3600),
        (9, 6 * DAY),
        (9, 20 * DAY),
        (9, 45 * DAY),
        (9, -5 * DAY),
        (12, 90 * DAY),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (product_type, expires_in))| Package {
        id: id_base * 1000 + i as u64 + 1,
        product_type,
        expires_in,
    })
    .collect();

    let sub_accounts = sub_accounts(rng, sizes.sub_accounts, id_base);
    let static_ips = static_ips(rng, sizes.static_ips, id_base);
    GatewayAccount {
        pools,
        packages,
        sub_accounts,
        static_ips,
        allowlist: allowlist(id_base),
        // Filled by `Dataset::generate`, from a generator of its own.
        stock: Vec::new(),
    }
}

/// Five IPs on the list from before the start; three more join it 2, 10 and
/// 30 minutes after.
fn allowlist(id_base: u64) -> Vec<AllowedIp> {
    [
        (9, -40 * DAY, "office"),
        (9, -12 * DAY, "crawler eu"),
        (9, -3 * DAY, "crawler us"),
        (14, -20 * DAY, "static dc"),
        (25, -5 * DAY, "static home"),
        (9, 120, "new server"),
        (14, 600, "new dc box"),
        (9, 1800, "laptop"),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (product_type, listed_in, remark))| AllowedIp {
        ip: format!("198.51.{}.{}", 100 + id_base, 20 + i),
        product_type,
        remark: remark.to_owned(),
        listed_in,
    })
    .collect()
}

fn stock(rng: &mut fastrand::Rng) -> Vec<RegionStock> {
    [
        ("US", "United States", 1.0),
        ("JP", "Japan", 0.4),
        ("DE", "Germany", 0.5),
        ("SG", "Singapore", 0.25),
        ("GB", "United Kingdom", 0.45),
        ("BR", "Brazil", 0.15),
    ]
    .into_iter()
    .map(|(country, name, size)| RegionStock {
        country,
        name,
        datacenter: (2000.0 * size * (0.5 + rng.f64())).round(),
        residential: (600.0 * size * (0.5 + rng.f64())).round(),
        host_pool: (9000.0 * size * (0.5 + rng.f64())).round(),
        phase: rng.f64() * std::f64::consts::TAU,
    })
    .collect()
}

/// The sub-accounts: the first four are the cases worth showing (above 90 %,
/// unlimited, disabled, over the limit), the rest ordinary.
fn sub_accounts(rng: &mut fastrand::Rng, count: usize, id_base: u64) -> Vec<SubAccount> {
    (0..count)
        .map(|i| {
            let (limit_gb, used_gb, enabled, remark) = match i {
                0 => (100, 93.0, true, "crawler \"eu\" – above 90 %".to_owned()),
                1 => (0, 42.0, true, "unlimited".to_owned()),
                2 => (50, 12.0, false, "paused".to_owned()),
                3 => (20, 20.5, true, "over its limit".to_owned()),
                _ => {
                    let limit = 10 * (1 + rng.u32(1..20));
                    (
                        limit,
                        f64::from(limit) * rng.f64() * 0.8,
                        true,
                        format!("team {}", i % 5),
                    )
                }
            };
            SubAccount {
                id: id_base * 10_000 + i as u64 + 1,
                username: format!("user{:03}", i + 1),
                password: format!("demo-password-{id_base}-{i}"),
                remark,
                product_type: if i % 7 == 6 { 11 } else { 9 },
                used_at_start_kb: used_gb * KB_PER_GB,
                rate_kb_per_sec: if enabled {
                    0.05 * KB_PER_GB / 3600.0
                } else {
                    0.0
                },
                burst_kb_per_sec: 0.0,
                limit_gb,
                enabled,
            }
        })
        .collect()
}

/// The static IPs: the first expire within 2 and within 7 days, one has lapsed,
/// and every status occurs.
fn static_ips(rng: &mut fastrand::Rng, count: usize, id_base: u64) -> Vec<StaticIp> {
    const COUNTRIES: [&str; 6] = ["US", "JP", "DE", "SG", "GB", "BR"];
    (0..count)
        .map(|i| {
            // The first IPs expire within 2 and within 7 days; one has lapsed.
            let expires_in = match i {
                0 => DAY + 7200,
                1 => DAY / 2,
                2 => 5 * DAY,
                3 => 6 * DAY + 3600,
                4 => -2 * DAY,
                _ => (10 + rng.i64(0..80)) * DAY + rng.i64(0..DAY),
            };
            let status = match i {
                0..=3 => 3,
                4 => 2,
                5 => 4,
                6 => 2,
                _ => 1,
            };
            StaticIp {
                id: id_base * 100_000 + i as u64 + 1,
                ip: format!("203.0.{}.{}", 100 + id_base, 10 + i % 240),
                product_type: if i % 3 == 0 { 14 } else { 25 },
                status,
                country: COUNTRIES[i % COUNTRIES.len()],
                expires_in,
            }
        })
        .collect()
}

fn ipweb_account(rng: &mut fastrand::Rng, sizes: Sizes) -> IpwebAccount {
    let customers = (0..sizes.customers)
        .map(|i| Customer {
            id: 1000 + i as u64,
            user_name: format!("customer{:04}@example.com", i),
            upload_mb_per_sec: rng.f64() * 0.02,
            download_mb_per_sec: rng.f64() * 0.2,
        })
        .collect();
    IpwebAccount {
        pools: [
            (5120.0 * MB_PER_GB, 3900.0 * MB_PER_GB, 1.5),
            (200.0 * MB_PER_GB, 20.0 * MB_PER_GB, 0.05),
        ],
        customers,
        nni_mb_per_sec: 0.4,
        recharges: past_recharges(rng),
    }
}

/// The agent's recharges before the start: three credited to it (one older
/// than 30 days), and some to its customers with a few consumption rows among
/// them.
fn past_recharges(rng: &mut fastrand::Rng) -> Vec<Recharge> {
    let mut rows = vec![
        (RechargeList::ForMe, 7, 1024.0 * MB_PER_GB, -35 * DAY),
        (RechargeList::ForMe, 7, 2048.0 * MB_PER_GB, -12 * DAY),
        (RechargeList::ForMe, 7, 500.0 * MB_PER_GB, -3 * DAY - 7200),
    ];
    for i in 0..24i64 {
        let customer = 1000 + rng.u64(0..40);
        let amount = if i % 6 == 5 {
            -(10.0 + rng.f64() * 40.0).round()
        } else {
            (50.0 * (1 + rng.u64(0..20)) as f64).round()
        };
        rows.push((
            RechargeList::Mine,
            customer,
            amount,
            -(i * 36 + 5) * 3600 - rng.i64(0..3600),
        ));
    }
    rows.into_iter()
        .map(|(list, customer_id, flow_mb, at)| Recharge {
            list,
            customer_id,
            account: format!(
                "customer{:04}@example.com",
                customer_id.saturating_sub(1000)
            ),
            flow_mb,
            at,
        })
        .collect()
}

/// Time as the simulated API sees it: `now` and the start the dataset is anchored at.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    pub start: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

impl Clock {
    fn elapsed(&self) -> f64 {
        (self.now - self.start).num_milliseconds().max(0) as f64 / 1000.0
    }

    /// RFC 3339 in UTC (`2026-11-30T01:02:03Z`), `offset` seconds after start,
    /// as the order list writes its times.
    pub fn rfc3339(&self, offset: i64) -> String {
        (self.start + chrono::Duration::seconds(offset))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    }

    /// Seconds from the start to now, negative for a now before the start
    /// (the demo's simulated past).
    pub fn offset(&self) -> f64 {
        (self.now - self.start).num_milliseconds() as f64 / 1000.0
    }

    /// Seconds of average use from the start to now under the daily rhythm
    /// (negative before the start).
    pub fn busy(&self) -> f64 {
        let unix = |t: DateTime<Utc>| t.timestamp_millis() as f64 / 1000.0;
        busy_seconds(unix(self.start), unix(self.now))
    }

    /// Seconds of average use within the provider's calendar day `days_back`
    /// days ago, up to now.
    fn busy_on(&self, days_back: u64) -> f64 {
        let local = self.now.with_timezone(&provider_zone());
        let Some(midnight) = (local.date_naive() - Days::new(days_back)).and_hms_opt(0, 0, 0)
        else {
            return 0.0;
        };
        let from = (midnight - local.naive_local()).num_milliseconds() as f64 / 1000.0;
        let now = self.now.timestamp_millis() as f64 / 1000.0;
        let to = (from + DAY as f64).min(0.0);
        busy_seconds(now + from, now + to)
    }

    /// Seconds since the start, whole (negative never: the clock starts there).
    pub fn elapsed_seconds(&self) -> i64 {
        self.elapsed() as i64
    }

    /// A provider timestamp, `Y-m-d H:i:s` in +08:00, `offset` seconds after start.
    pub fn stamp(&self, offset: i64) -> String {
        (self.start + chrono::Duration::seconds(offset))
            .with_timezone(&provider_zone())
            .format("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// The provider's calendar date (`Y-m-d`, +08:00) `offset` seconds after start.
    pub fn stamp_date(&self, offset: i64) -> String {
        self.stamp(offset)[..10].to_owned()
    }

    fn local_date(&self, days_back: u64) -> String {
        (self.now.with_timezone(&provider_zone()).date_naive() - Days::new(days_back))
            .format("%Y-%m-%d")
            .to_string()
    }

    /// Seconds since midnight today in the provider's zone.
    fn seconds_today(&self) -> f64 {
        let local = self.now.with_timezone(&provider_zone());
        let midnight = local
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .expect("midnight exists");
        (local.naive_local() - midnight).num_milliseconds() as f64 / 1000.0
    }
}

impl Pool {
    /// What has been used of the pool's effective traffic by the clock's now.
    pub(super) fn used_kb(&self, clock: &Clock) -> f64 {
        pool_used(
            self.used_at_start_kb,
            self.effective_total_kb,
            self.rate_kb_per_sec * clock.busy(),
        )
    }

    /// The `data` of `user-product/summary` for this pool.
    pub fn summary(&self, clock: &Clock) -> Value {
        let used = self.used_kb(clock);
        let lifetime_used = self.total_kb - self.effective_total_kb + used;
        let [total, active, expiring, expired] = self.package_counts;
        json!({
            "total": self.total_kb.round(),
            "total_count": total,
            "effective": (self.effective_total_kb - used).round(),
            "effective_count": active,
            "effective_total": self.effective_total_kb.round(),
            "effective_used": used.round(),
            "temporary": self.expiring_kb.round(),
            "temporary_count": expiring,
            "expired": self.expired_kb.round(),
            "expired_count": expired,
            "used": lifetime_used.round(),
        })
    }
}

impl SubAccount {
    /// What the sub-account has used by the clock's now.
    /// What the sub-account has used by the clock's now (before the start:
    /// never below 0, the account being new then).
    pub(super) fn used_kb(&self, clock: &Clock) -> f64 {
        let bursts = self.burst_kb_per_sec * burst_seconds(0.0, clock.offset());
        (self.used_at_start_kb + self.rate_kb_per_sec * clock.busy() + bursts).max(0.0)
    }
}

impl GatewayAccount {
    /// Daily usage items for the last `days` days, today included, in KB.
    pub fn usage(&self, clock: &Clock, days: u64) -> Value {
        let rate: f64 = self.pools.iter().map(|p| p.rate_kb_per_sec).sum();
        let list: Vec<_> = (0..days)
            .rev()
            .map(|back| {
                json!({"day": clock.local_date(back), "flow": (rate * clock.busy_on(back)).round()})
            })
            .collect();
        json!({ "list": list })
    }

    pub fn package_item(&self, p: &Package, clock: &Clock) -> Value {
        json!({
            "id": p.id,
            "created_at": clock.stamp(p.expires_in - 30 * DAY),
            "expired_at": clock.stamp(p.expires_in),
            "product_type": p.product_type,
            "trade_no": format!("2026{:020}", p.id),
            "order": {"created_at": clock.stamp(p.expires_in - 30 * DAY), "pay_at": clock.stamp(p.expires_in - 30 * DAY), "title": "Simulated package"},
        })
    }

    pub fn account_item(a: &SubAccount, clock: &Clock) -> Value {
        json!({
            "id": a.id,
            "username": a.username,
            "password": a.password,
            "created_at": clock.stamp(-90 * DAY),
            "remark": a.remark,
            "product_type": a.product_type,
            "usage_flow": a.used_kb(clock).round(),
            "limit_flow": a.limit_gb,
            "status": u32::from(a.enabled),
        })
    }

    pub fn static_ip_item(ip: &StaticIp, clock: &Clock) -> Value {
        json!({
            "id": ip.id,
            "ip": ip.ip,
            "port": 8000,
            "product_type": ip.product_type,
            "status": ip.status,
            "country_code": ip.country,
            "created_at": clock.stamp(ip.expires_in - 30 * DAY),
            "expired_at": clock.stamp(ip.expires_in),
        })
    }
}

impl GatewayAccount {
    /// Every order made by the clock's now, the newest first: one paid order
    /// per package and per static IP, made when it was bought (30 days before
    /// it expires; a purchase still in the future has no order yet), and the
    /// daily top-ups, of which the latest waits for payment and the earlier
    /// ones were cancelled at their deadline.
    pub fn orders(&self, clock: &Clock) -> Vec<Order> {
        let now = clock.elapsed_seconds();
        let paid =
            |id: u64, product_type: u32, amount: u32, unit_price: f64, created_in: i64| Order {
                id,
                trade_no: format!("2026{id:020}"),
                product_type,
                amount,
                unit_price,
                status: 1,
                created_in,
                // Paid a minute and a half after ordering.
                paid_in: Some(created_in + 90),
                deadline_in: None,
            };
        let mut orders: Vec<Order> = self
            .packages
            .iter()
            .map(|p| {
                let (amount, unit_price) = if p.product_type == 12 {
                    (100, 1.2)
                } else {
                    (100, 3.5)
                };
                paid(
                    p.id,
                    p.product_type,
                    amount,
                    unit_price,
                    p.expires_in - 30 * DAY,
                )
            })
            .chain(self.static_ips.iter().map(|ip| {
                let unit_price = if ip.product_type == 14 { 4.5 } else { 6.0 };
                paid(
                    ip.id,
                    ip.product_type,
                    1,
                    unit_price,
                    ip.expires_in - 30 * DAY,
                )
            }))
            .filter(|o| o.created_in <= now)
            .collect();
        let top_ups = (now + PENDING_TOP_UP_LEAD) / PENDING_TOP_UP_EVERY;
        orders.extend((0..=top_ups).map(|k| {
            let created_in = k * PENDING_TOP_UP_EVERY - PENDING_TOP_UP_LEAD;
            let deadline_in = created_in + PENDING_TOP_UP_EVERY;
            let id = 900_000 + k as u64;
            Order {
                id,
                trade_no: format!("2026{id:020}"),
                product_type: 9,
                amount: 50,
                unit_price: 3.5,
                status: if now < deadline_in { 0 } else { 2 },
                created_in,
                paid_in: None,
                deadline_in: Some(deadline_in),
            }
        }));
        orders.sort_by_key(|o| (std::cmp::Reverse(o.created_in), o.id));
        orders
    }

    /// An order list item as the documents show it, with an invoice and a
    /// payment method, which the exporter must never read.
    pub fn order_item(o: &Order, clock: &Clock) -> Value {
        let fee = o.pay_fee();
        json!({
            "id": o.id,
            "trade_no": o.trade_no,
            "out_trade_no": "",
            "product_id": o.product_type * 100 + 1,
            "product_type": o.product_type,
            "amount": o.amount,
            "unit_price": o.unit_price,
            "total_fee": fee,
            "goods_fee": fee,
            "pay_fee": fee,
            "discount_fee": 0.0,
            "handling_fee": 0.0,
            "refund_fee": 0.0,
            "pm_id": 2,
            "pm_title": "Simulated Pay",
            "pm_logo": "https://example.com/static/pay/simulated.png",
            "status": o.status,
            "title": format!("Simulated product {}", o.product_type),
            "detail": "",
            "region_desc": "",
            "pay_at": o.paid_in.or(o.deadline_in).map(|at| clock.rfc3339(at)),
            "pay_timestamp": o.paid_in.map_or(0, |at| (clock.start + chrono::Duration::seconds(at)).timestamp()),
            "created_at": clock.rfc3339(o.created_in),
            "pay_fee_status": 0,
            "invoice": {
                "name": "Simulated Buyer",
                "org_name": "Simulated Trading Ltd",
                "first_name": "Simulated",
                "last_name": "Buyer",
                "phone": "+1 555 0100",
                "email": "billing@example.com",
                "role_type": 2,
                "vat_id": "XX000000000",
                "address_country": "US",
                "address_city": "Springfield",
                "address_line1": "1 Simulated Street",
                "address_line2": "Suite 42",
                "address_postal_code": "00000"
            }
        })
    }

    /// The `data` of `proxy-ip/list`: the IPs listed by now.
    pub fn allowlist(&self, clock: &Clock) -> Value {
        let elapsed = clock.elapsed();
        let list: Vec<_> = self
            .allowlist
            .iter()
            .filter(|a| a.listed_in as f64 <= elapsed)
            .map(|a| {
                json!({"ip": a.ip, "remark": a.remark, "product_type": a.product_type,
                       "created_at": clock.stamp(a.listed_in)})
            })
            .collect();
        json!({ "list": list })
    }

    /// The `data` of a region list: the stock of every country now.
    pub fn stock(&self, list: StockList, clock: &Clock) -> Value {
        let swing = |base: f64, phase: f64| {
            let angle = clock.elapsed() / (6.0 * 3600.0) * std::f64::consts::TAU + phase;
            (base * (1.0 + 0.2 * angle.sin())).round()
        };
        let items: Vec<_> = self
            .stock
            .iter()
            .map(|r| match list {
                StockList::Datacenter => json!({"code": r.country, "number": swing(r.datacenter, r.phase)}),
                StockList::Residential => json!({"code": r.country, "number": swing(r.residential, r.phase + 1.0)}),
                StockList::HostPool => json!({
                    "code": r.country,
                    "number": swing(r.host_pool, r.phase + 2.0),
                    "name_zh_cn": r.name,
                    "name_en": r.name,
                    "square_flag": format!("https://example.com/static/flags/{}.png", r.country.to_lowercase()),
                }),
            })
            .collect();
        json!({ "list": items })
    }
}

impl IpwebAccount {
    /// The `data` of `getFlowTotalFull`, with the document's trailing-space key.
    pub fn totals(&self, clock: &Clock) -> Value {
        let pool = |(count, used_at_start, rate): (f64, f64, f64)| {
            let used = pool_used(used_at_start, count, rate * clock.busy());
            let left = round2(count - used);
            json!({"consumeFlow": round2(used), "residualFlow ": left, "flowCount": count, "residualFlow": left})
        };
        json!({"account": pool(self.pools[0]), "account2": pool(self.pools[1])})
    }

    /// The `data` of `getFlowConsumeDetail` for yesterday and today.
    pub fn consumption(&self, clock: &Clock) -> Value {
        let rate: f64 = self.pools.iter().map(|p| p.2).sum();
        let day = |back: u64| {
            let seconds = clock.busy_on(back);
            json!({"date": clock.local_date(back), "downloadFlow": round2(rate * seconds * 0.85), "uploadFlow": round2(rate * seconds * 0.15)})
        };
        json!([day(1), day(0)])
    }

    /// The `data` of `getNNIFlowConsumeDetail` for yesterday and today.
    pub fn nni_consumption(&self, clock: &Clock) -> Value {
        let day = |back: u64, seconds: f64| json!({"date": clock.local_date(back), "flow": round2(self.nni_mb_per_sec * seconds)});
        json!([day(1, DAY as f64), day(0, clock.seconds_today())])
    }

    /// The rows of `list` up to now, newest first: those from before the start,
    /// and a customer recharge every [`GIVEN_RECHARGE_EVERY`] seconds since.
    pub fn recharges(&self, list: RechargeList, clock: &Clock) -> Vec<Recharge> {
        let mut rows: Vec<Recharge> = self
            .recharges
            .iter()
            .filter(|r| r.list == list)
            .cloned()
            .collect();
        if list == RechargeList::Mine {
            let arrived = clock.elapsed() as i64 / GIVEN_RECHARGE_EVERY;
            rows.extend((1..=arrived).map(|k| {
                let customer_id = 1000 + (k as u64 * 7) % 40;
                Recharge {
                    list,
                    customer_id,
                    account: format!("customer{:04}@example.com", customer_id - 1000),
                    flow_mb: 100.0 * (1 + k % 5) as f64,
                    at: k * GIVEN_RECHARGE_EVERY,
                }
            }));
        }
        rows.sort_by_key(|r| std::cmp::Reverse(r.at));
        rows
    }

    /// A row of a recharge list as the document shows it.
    pub fn recharge_row(r: &Recharge, clock: &Clock) -> Value {
        let (type_desc, created_by, create_id) = match (r.list, r.flow_mb > 0.0) {
            (_, false) => ("消耗", "system", 1),
            (RechargeList::ForMe, true) => ("充值", "upstream", 54321),
            (RechargeList::Mine, true) => ("充值", "demo-agent", 98765),
        };
        json!({
            "customerId": r.customer_id,
            "account": r.account,
            "flowCount": r.flow_mb,
            "typeDesc": type_desc,
            "createId": create_id,
            "createBy": created_by,
            "createTime": clock.stamp(r.at),
        })
    }

    /// One row of today's `flowReport` for a customer.
    pub fn report_row(&self, c: &Customer, clock: &Clock) -> Value {
        let seconds = clock.seconds_today();
        json!({
            "reportDate": clock.local_date(0),
            "customerId": c.id,
            "userName": c.user_name,
            "uploadFlow": round2(c.upload_mb_per_sec * seconds),
            "downloadFlow": round2(c.download_mb_per_sec * seconds),
        })
    }
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}
