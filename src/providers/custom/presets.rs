//! Provider presets: `provider: iproyal` and the like, each the settings of a
//! `provider: custom` target shipped with the exporter. A preset is data, not
//! code: its YAML file in `src/providers/presets/` (embedded here) is read
//! through the custom provider's own settings reader, with the target's own
//! keys laid over it ([`settings::read_preset`]); the one line per preset below
//! gives the registry what it needs before any configuration is read (name,
//! name for people, default base URL, which the preset's file states too).

use super::settings;
use super::Custom;
use crate::providers::{Endpoint, ProviderSpec};

/// One preset's spec: a custom provider under another name, its settings read
/// from its embedded file.
macro_rules! preset {
    ($name:literal, $display:literal, $base_url:literal) => {
        ProviderSpec {
            name: $name,
            display_name: $display,
            default_base_url: Some($base_url),
            credential_key: "credential",
            credential_placement: |options| settings::of(options).auth.clone(),
            path_prefix: None,
            endpoints: &[Endpoint::Summary, Endpoint::Accounts, Endpoint::StaticIps],
            optional_endpoints: &[],
            configured_endpoints: Some(|options| settings::of(options).endpoints()),
            own_keys: settings::OWN_KEYS,
            read_options: |entry, base_dir| {
                settings::read_preset(
                    include_str!(concat!("../presets/", $name, ".yaml")),
                    entry,
                    base_dir,
                )
            },
            build: |target, api| Box::new(Custom::new(target, api)),
        }
    };
}

pub const IPROYAL: ProviderSpec = preset!("iproyal", "IPRoyal", "https://resi-api.iproyal.com/v1");
pub const WEBSHARE: ProviderSpec =
    preset!("webshare", "Webshare", "https://proxy.webshare.io/api/v2");
pub const THORDATA: ProviderSpec =
    preset!("thordata", "Thordata", "https://openapi.thordata.com/api");
pub const GOPROXY: ProviderSpec = preset!("goproxy", "GoProxy", "https://api.goproxy.com/go-api");
pub const GEONODE: ProviderSpec = preset!("geonode", "Geonode", "https://monitor.geonode.com");
pub const ASOCKS: ProviderSpec = preset!("asocks", "Asocks", "https://api.asocks.com");
pub const INFINITEPROXIES: ProviderSpec = preset!(
    "infiniteproxies",
    "InfiniteProxies",
    "https://reseller.infiniteproxies.com/v2"
);
pub const WEPROXIES: ProviderSpec =
    preset!("weproxies", "WeProxies", "https://api.weproxies.com/api/v1");
pub const EVOMI: ProviderSpec = preset!("evomi", "Evomi", "https://api.evomi.com");
pub const SCRAPEOPS: ProviderSpec =
    preset!("scrapeops", "ScrapeOps", "https://backend.scrapeops.io/v1");
pub const ECLIPSEPROXY: ProviderSpec = preset!(
    "eclipseproxy",
    "Eclipse Proxy",
    "https://www.eclipseproxy.com/api/user-api"
);

/// Every preset with its data, for tests and documents.
pub const ALL: &[(&ProviderSpec, &str)] = &[
    (&IPROYAL, include_str!("../presets/iproyal.yaml")),
    (&WEBSHARE, include_str!("../presets/webshare.yaml")),
    (&THORDATA, include_str!("../presets/thordata.yaml")),
    (&GOPROXY, include_str!("../presets/goproxy.yaml")),
    (&GEONODE, include_str!("../presets/geonode.yaml")),
    (&ASOCKS, include_str!("../presets/asocks.yaml")),
    (
        &INFINITEPROXIES,
        include_str!("../presets/infiniteproxies.yaml"),
    ),
    (&WEPROXIES, include_str!("../presets/weproxies.yaml")),
    (&EVOMI, include_str!("../presets/evomi.yaml")),
    (&SCRAPEOPS, include_str!("../presets/scrapeops.yaml")),
    (&ECLIPSEPROXY, include_str!("../presets/eclipseproxy.yaml")),
];

#[cfg(test)]
mod tests {
    use super::*;

    /// Each file states the base URL and display name its spec line gives,
    /// and reads as a preset's data.
    #[test]
    fn each_file_agrees_with_its_spec_line() {
        for (spec, text) in ALL {
            let (_, value) = crate::yaml::parse::<serde_json::Value>(text)
                .unwrap_or_else(|e| panic!("{}: line {}: {}", spec.name, e.line, e.message));
            assert_eq!(
                value["base_url"].as_str(),
                spec.default_base_url,
                "{}",
                spec.name
            );
            assert_eq!(
                value["display_name"].as_str(),
                Some(spec.display_name),
                "{}",
                spec.name
            );
            settings::preset_data(text).unwrap();
            assert!(
                crate::providers::spec(spec.name).is_some(),
                "{} is registered",
                spec.name
            );
        }
    }
}
