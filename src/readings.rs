//! The plain readings a provider returns for one poll of one endpoint, and the
//! metric families each fills. Providers build readings and never see the
//! encoder; the encoder asks each reading for its samples family by family.

use crate::metrics::*;

/// Receives a reading's samples of one family: the label values after
/// `provider` and `target`, in the catalogue's order, and the value.
pub type Emit<'a> = dyn FnMut(&[&str], f64) + 'a;

/// What one successful poll of one endpoint read. All traffic is in bytes and all
/// times in Unix seconds.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Usage(DailyUsage),
    Summary(Vec<PoolReading>),
    Packages(Vec<PackageReading>),
    Accounts(Vec<AccountReading>),
    StaticIps(StaticIpReading),
    Customers(Vec<CustomerReading>),
    /// NNI traffic on the provider's calendar days (IPWeb).
    NniUsage(DailyUsage),
    /// Both directions, always (IPWeb).
    Recharges(Vec<RechargeReading>),
    Allowlist(Vec<AllowlistReading>),
    Stock(StockReading),
    /// The orders of the last 30 provider days (gateway family).
    Orders(OrderReading),
}

/// Traffic used on the provider's calendar days.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyUsage {
    pub today_bytes: f64,
    pub yesterday_bytes: f64,
}

impl DailyUsage {
    /// Adds up `(date, bytes)` items into `today` and the day before; a date may
    /// carry a time after its first 10 characters, other days are ignored, and a
    /// day without items counts 0 (the answer was successful).
    pub(crate) fn from_days<'a>(
        today: chrono::NaiveDate,
        days: impl IntoIterator<Item = (&'a str, f64)>,
    ) -> Self {
        let yesterday = (today - chrono::Days::new(1)).to_string();
        let today = today.to_string();
        let mut usage = DailyUsage {
            today_bytes: 0.0,
            yesterday_bytes: 0.0,
        };
        for (date, bytes) in days {
            let date = date.get(..10).unwrap_or(date);
            if date == today {
                usage.today_bytes += bytes;
            } else if date == yesterday {
                usage.yesterday_bytes += bytes;
            }
        }
        usage
    }
}

/// One traffic pool (a gateway product type, or an IPWeb account). Fields the
/// provider does not report are `None` and produce no series.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PoolReading {
    pub pool: String,
    pub remaining_bytes: Option<f64>,
    pub purchased_bytes: Option<f64>,
    pub used_bytes: Option<f64>,
    pub expiring_bytes: Option<f64>,
    pub expired_bytes: Option<f64>,
    pub lifetime_purchased_bytes: Option<f64>,
    pub lifetime_used_bytes: Option<f64>,
    pub packages_total: Option<f64>,
    pub packages_active: Option<f64>,
    pub packages_expiring: Option<f64>,
    pub packages_expired: Option<f64>,
}

impl PoolReading {
    /// Remaining traffic as a share of the purchased (`ProxyTrafficLow`'s
    /// ratio): `None` without both figures or with nothing purchased.
    pub fn remaining_share(&self) -> Option<f64> {
        let purchased = self.purchased_bytes.filter(|b| *b > 0.0)?;
        Some(self.remaining_bytes? / purchased)
    }

    /// Used traffic as a share of the purchased, like [`Self::remaining_share`].
    pub fn used_share(&self) -> Option<f64> {
        let purchased = self.purchased_bytes.filter(|b| *b > 0.0)?;
        Some(self.used_bytes? / purchased)
    }
}

/// A purchased package.
#[derive(Debug, Clone, PartialEq)]
pub struct PackageReading {
    pub package_id: String,
    pub product: String,
    pub expiry_timestamp: Option<i64>,
}

/// A proxy sub-account. The password is never read.
#[derive(Debug, Clone, PartialEq)]
pub struct AccountReading {
    pub account: String,
    pub product: String,
    pub remark: String,
    pub used_bytes: f64,
    /// `None` for an unlimited account (`limit_flow: 0`).
    pub limit_bytes: Option<f64>,
    /// `None` when the provider does not say (a custom provider without `enabled`).
    pub enabled: Option<bool>,
}

impl AccountReading {
    /// Used traffic as a share of the limit (`ProxyAccountNearLimit`'s ratio):
    /// `None` for an unlimited account.
    pub fn used_share(&self) -> Option<f64> {
        let limit = self.limit_bytes.filter(|l| *l > 0.0)?;
        Some(self.used_bytes / limit)
    }
}

/// Static IPs and their counts by product and status.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticIpReading {
    pub ips: Vec<StaticIp>,
    /// Per product: counts for status active, invalid, expiring, maintenance.
    pub status_counts: Vec<(String, [u64; 4])>,
}

/// Names of static IP statuses 1–4, in the order of [`StaticIpReading::status_counts`].
pub const STATIC_IP_STATUSES: [&str; 4] = ["active", "invalid", "expiring", "maintenance"];

/// One static IP with a known expiry.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticIp {
    pub ip: String,
    pub product: String,
    pub country: String,
    pub expiry_timestamp: i64,
}

/// One customer's traffic today (IPWeb agents).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerReading {
    pub customer_id: String,
    pub upload_bytes: f64,
    pub download_bytes: f64,
}

/// Which way a recharge went: the `direction` label of the recharge families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RechargeDirection {
    /// Credited to the target's account.
    Received,
    /// From the target's account to one of its customers.
    Given,
}

impl RechargeDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            RechargeDirection::Received => "received",
            RechargeDirection::Given => "given",
        }
    }
}

/// The recharges of one direction in the last 30 provider days.
#[derive(Debug, Clone, PartialEq)]
pub struct RechargeReading {
    pub direction: RechargeDirection,
    /// The newest recharge; `None` when there was none in the 30 days.
    pub last_timestamp: Option<i64>,
    /// Traffic recharged in the 30 days (0 when there was none).
    pub last_30d_bytes: f64,
}

/// The number of allow-listed IPs of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct AllowlistReading {
    pub product: String,
    pub ips: u64,
}

/// What the provider has available to buy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StockReading {
    /// Static IPs per country and kind.
    pub static_ips: Vec<StaticIpStock>,
    /// Host pool (datacenter) IPs per country.
    pub host_pool: Vec<CountryStock>,
}

/// The kinds of static IP in stock, the `kind` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StockKind {
    /// Data center static IPs (`isp=0`).
    Datacenter,
    /// Home residential static IPs (`isp=1`).
    Residential,
}

impl StockKind {
    pub fn as_str(self) -> &'static str {
        match self {
            StockKind::Datacenter => "datacenter",
            StockKind::Residential => "residential",
        }
    }
}

/// Static IPs available in one country, of one kind.
#[derive(Debug, Clone, PartialEq)]
pub struct StaticIpStock {
    pub kind: StockKind,
    pub stock: CountryStock,
}

/// IPs available in one country.
#[derive(Debug, Clone, PartialEq)]
pub struct CountryStock {
    /// The country or region code as the provider gives it (`US`).
    pub country: String,
    pub ips: f64,
}

/// The orders created in the last 30 provider days: what was bought, what it
/// cost and what still waits for payment. Nothing of an order's invoice or
/// payment method is ever read into it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OrderReading {
    /// Per product, in the order of their slugs.
    pub products: Vec<ProductOrders>,
    /// The newest paid order that says when it was paid.
    pub last_paid: Option<Order>,
    /// Orders waiting for payment, the newest first, at most
    /// [`OrderReading::PENDING_KEPT`] (`proxy_orders{status="pending"}` counts all).
    pub pending: Vec<Order>,
}

impl OrderReading {
    /// The most orders waiting for payment a reading keeps.
    pub const PENDING_KEPT: usize = 20;
}

/// Names of order statuses 0–3, in the order of [`ProductOrders::counts`].
pub const ORDER_STATUSES: [&str; 4] = ["pending", "paid", "cancelled", "refunded"];

/// One product's orders of the last 30 provider days.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProductOrders {
    pub product: String,
    /// Orders by status, in the order of [`ORDER_STATUSES`].
    pub counts: [u64; 4],
    /// The sum of `pay_fee` of the paid orders, in the account's currency (0
    /// when none was paid).
    pub paid: f64,
    /// When the newest paid order was paid; `None` when no paid order says.
    pub last_paid_timestamp: Option<i64>,
}

/// One order, as the front page and the status API show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub product: String,
    /// The provider's order number (`trade_no`), empty when it gives none.
    pub trade_no: String,
    /// `pay_fee`, in the account's currency; `None` when the order has none.
    pub fee: Option<f64>,
    pub created_timestamp: Option<i64>,
    pub paid_timestamp: Option<i64>,
}

impl Reading {
    /// Writes this reading's samples of `family` (none if it fills another).
    pub fn samples(&self, family: &MetricDef, emit: &mut Emit) {
        match self {
            Reading::Usage(usage) => usage.samples([&USAGE_TODAY, &USAGE_YESTERDAY], family, emit),
            Reading::NniUsage(usage) => {
                usage.samples([&NNI_USAGE_TODAY, &NNI_USAGE_YESTERDAY], family, emit)
            }
            Reading::Recharges(recharges) => recharge_samples(recharges, family, emit),
            Reading::Allowlist(products) => allowlist_samples(products, family, emit),
            Reading::Stock(stock) => stock.samples(family, emit),
            Reading::Orders(orders) => orders.samples(family, emit),
            Reading::Summary(pools) => pool_samples(pools, family, emit),
            Reading::Packages(packages) => package_samples(packages, family, emit),
            Reading::Accounts(accounts) => account_samples(accounts, family, emit),
            Reading::StaticIps(ips) => ips.samples(family, emit),
            Reading::Customers(customers) => customer_samples(customers, family, emit),
        }
    }

    /// Cleans and bounds every label value that came from the provider
    /// ([`crate::bounded::label_value`]) to `limit` bytes, and returns how many
    /// were cut. Done once per poll, before anything else sees the reading, so
    /// that `/metrics`, the front page, the status API, notifications and the
    /// store all show the same value.
    pub fn bound_labels(&mut self, limit: usize) -> u64 {
        let mut cut = 0;
        self.for_each_label(&mut |value| {
            cut += u64::from(crate::bounded::bound_label_value(value, limit))
        });
        cut
    }

    /// Calls `f` on every label value of this reading that the provider gave.
    fn for_each_label(&mut self, f: &mut dyn FnMut(&mut String)) {
        match self {
            Reading::Usage(_) | Reading::NniUsage(_) | Reading::Recharges(_) => {}
            Reading::Summary(pools) => pools.iter_mut().for_each(|p| f(&mut p.pool)),
            Reading::Packages(packages) => packages.iter_mut().for_each(|p| {
                f(&mut p.package_id);
                f(&mut p.product);
            }),
            Reading::Accounts(accounts) => accounts.iter_mut().for_each(|a| {
                f(&mut a.account);
                f(&mut a.product);
                f(&mut a.remark);
            }),
            Reading::StaticIps(reading) => {
                reading.ips.iter_mut().for_each(|ip| {
                    f(&mut ip.ip);
                    f(&mut ip.product);
                    f(&mut ip.country);
                });
                reading.status_counts.iter_mut().for_each(|(p, _)| f(p));
            }
            Reading::Customers(customers) => {
                customers.iter_mut().for_each(|c| f(&mut c.customer_id))
            }
            Reading::Allowlist(products) => products.iter_mut().for_each(|p| f(&mut p.product)),
            Reading::Stock(stock) => {
                stock
                    .static_ips
                    .iter_mut()
                    .for_each(|s| f(&mut s.stock.country));
                stock.host_pool.iter_mut().for_each(|c| f(&mut c.country));
            }
            Reading::Orders(orders) => {
                orders.products.iter_mut().for_each(|p| f(&mut p.product));
                for order in orders.last_paid.iter_mut().chain(&mut orders.pending) {
                    f(&mut order.product);
                    f(&mut order.trade_no);
                }
            }
        }
    }

    /// How many series this reading adds to `/metrics` (what `sample_limit` counts).
    pub fn series(&self) -> usize {
        let mut count = 0;
        for family in CATALOGUE {
            self.samples(family, &mut |_, _| count += 1);
        }
        count
    }
}

impl DailyUsage {
    /// Writes today's figure as the first of `[today, yesterday]`, yesterday's
    /// as the second.
    fn samples(&self, [today, yesterday]: [&MetricDef; 2], family: &MetricDef, emit: &mut Emit) {
        if family.is(today) {
            emit(&[], self.today_bytes);
        } else if family.is(yesterday) {
            emit(&[], self.yesterday_bytes);
        }
    }
}

/// Reads one value of a series from a reading; `None` writes no series.
type Field<T> = fn(&T) -> Option<f64>;

/// The per-pool families and where each reads its value.
static POOL_FAMILIES: &[(&MetricDef, Field<PoolReading>)] = &[
    (&TRAFFIC_REMAINING, |p| p.remaining_bytes),
    (&TRAFFIC_PURCHASED, |p| p.purchased_bytes),
    (&TRAFFIC_USED, |p| p.used_bytes),
    (&TRAFFIC_EXPIRING, |p| p.expiring_bytes),
    (&TRAFFIC_EXPIRED, |p| p.expired_bytes),
    (&TRAFFIC_LIFETIME_PURCHASED, |p| p.lifetime_purchased_bytes),
    (&TRAFFIC_LIFETIME_USED, |p| p.lifetime_used_bytes),
];

/// The `state` values of `proxy_packages` and where each reads its count.
static PACKAGE_STATES: &[(&str, Field<PoolReading>)] = &[
    ("total", |p| p.packages_total),
    ("active", |p| p.packages_active),
    ("expiring", |p| p.packages_expiring),
    ("expired", |p| p.packages_expired),
];

fn pool_samples(pools: &[PoolReading], family: &MetricDef, emit: &mut Emit) {
    if let Some((_, field)) = POOL_FAMILIES.iter().find(|(f, _)| family.is(f)) {
        for pool in pools {
            if let Some(value) = field(pool) {
                emit(&[&pool.pool], value);
            }
        }
    } else if family.is(&PACKAGES) {
        for pool in pools {
            for (state, field) in PACKAGE_STATES {
                if let Some(value) = field(pool) {
                    emit(&[&pool.pool, state], value);
                }
            }
        }
    }
}

fn package_samples(packages: &[PackageReading], family: &MetricDef, emit: &mut Emit) {
    if family.is(&PACKAGE_EXPIRY) {
        for p in packages {
            if let Some(at) = p.expiry_timestamp {
                emit(&[&p.package_id, &p.product], at as f64);
            }
        }
    }
}

/// The per-account families and where each reads its value.
static ACCOUNT_FAMILIES: &[(&MetricDef, Field<AccountReading>)] = &[
    (&ACCOUNT_USED, |a| Some(a.used_bytes)),
    (&ACCOUNT_LIMIT, |a| a.limit_bytes),
    (&ACCOUNT_ENABLED, |a| {
        a.enabled.map(|on| if on { 1.0 } else { 0.0 })
    }),
];

fn account_samples(accounts: &[AccountReading], family: &MetricDef, emit: &mut Emit) {
    if let Some((_, field)) = ACCOUNT_FAMILIES.iter().find(|(f, _)| family.is(f)) {
        for a in accounts {
            if let Some(value) = field(a) {
                emit(&[&a.account, &a.product], value);
            }
        }
    } else if family.is(&ACCOUNT_INFO) {
        for a in accounts {
            emit(&[&a.account, &a.product, &a.remark], 1.0);
        }
    }
}

impl StaticIpReading {
    fn samples(&self, family: &MetricDef, emit: &mut Emit) {
        if family.is(&STATIC_IP_EXPIRY) {
            for ip in &self.ips {
                emit(
                    &[&ip.ip, &ip.product, &ip.country],
                    ip.expiry_timestamp as f64,
                );
            }
        } else if family.is(&STATIC_IPS) {
            for (product, counts) in &self.status_counts {
                for (status, count) in STATIC_IP_STATUSES.iter().zip(counts) {
                    emit(&[product, status], *count as f64);
                }
            }
        }
    }
}

fn customer_samples(customers: &[CustomerReading], family: &MetricDef, emit: &mut Emit) {
    if family.is(&CUSTOMER_USAGE_TODAY) {
        for c in customers {
            emit(&[&c.customer_id, "upload"], c.upload_bytes);
            emit(&[&c.customer_id, "download"], c.download_bytes);
        }
    }
}

fn recharge_samples(recharges: &[RechargeReading], family: &MetricDef, emit: &mut Emit) {
    for r in recharges {
        let direction = r.direction.as_str();
        if family.is(&RECHARGE_LAST_TIMESTAMP) {
            if let Some(at) = r.last_timestamp {
                emit(&[direction], at as f64);
            }
        } else if family.is(&RECHARGE_LAST_30D) {
            emit(&[direction], r.last_30d_bytes);
        }
    }
}

fn allowlist_samples(products: &[AllowlistReading], family: &MetricDef, emit: &mut Emit) {
    if family.is(&ALLOWLIST_IPS) {
        for p in products {
            emit(&[&p.product], p.ips as f64);
        }
    }
}

impl StockReading {
    fn samples(&self, family: &MetricDef, emit: &mut Emit) {
        if family.is(&STATIC_IP_STOCK) {
            for s in &self.static_ips {
                emit(&[&s.stock.country, s.kind.as_str()], s.stock.ips);
            }
        } else if family.is(&HOST_POOL_IPS) {
            for s in &self.host_pool {
                emit(&[&s.country], s.ips);
            }
        }
    }
}

impl OrderReading {
    fn samples(&self, family: &MetricDef, emit: &mut Emit) {
        if family.is(&ORDERS) {
            for p in &self.products {
                for (status, count) in ORDER_STATUSES.iter().zip(p.counts) {
                    emit(&[&p.product, status], count as f64);
                }
            }
        } else if family.is(&ORDER_PAID_30D) {
            for p in &self.products {
                emit(&[&p.product], p.paid);
            }
        } else if family.is(&ORDER_LAST_PAID) {
            for p in &self.products {
                if let Some(at) = p.last_paid_timestamp {
                    emit(&[&p.product], at as f64);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(product: &str, trade_no: &str) -> Order {
        Order {
            product: product.to_owned(),
            trade_no: trade_no.to_owned(),
            fee: Some(1.0),
            created_timestamp: None,
            paid_timestamp: None,
        }
    }

    /// Every text of an order reading is a provider's and is bounded: the
    /// products and the order numbers of the last purchase and the pending ones.
    #[test]
    fn every_text_of_an_order_reading_is_bounded() {
        let long = "x".repeat(300);
        let mut reading = Reading::Orders(OrderReading {
            products: vec![ProductOrders {
                product: long.clone(),
                ..ProductOrders::default()
            }],
            last_paid: Some(order(&long, &long)),
            pending: vec![order(&long, &long), order("balance", "a\u{7}b")],
        });
        assert_eq!(reading.bound_labels(64), 5);
        let Reading::Orders(orders) = reading else {
            unreachable!()
        };
        let texts = orders.products.iter().map(|p| &p.product).chain(
            orders
                .last_paid
                .iter()
                .chain(&orders.pending)
                .flat_map(|o| [&o.product, &o.trade_no]),
        );
        for text in texts {
            assert!(text.len() <= 64 && !text.contains('\u{7}'), "{text:?}");
        }
    }
}
