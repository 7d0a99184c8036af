//! The one macro that turns the settings table in `schema.rs` into the typed section structs,
//! [`crate::Config`], its defaults and the [`crate::Field`] descriptors (name, doc, bounds, env
//! variable, flag, reload class, and typed read/write functions). Everything else (loader, env
//! rule, docs, `config show`, diff) walks the descriptors, so a key is declared exactly once.

macro_rules! settings {
    (
        defaults($env:ident);
        $(
            $(#[doc = $section_doc:literal])*
            [$section:ident] $Section:ident {
                $(
                    $key:ident : $ty:ty = $default:expr, $bounds:expr, $apply:ident, $scope:ident,
                    env $alias:literal, flag $flag:literal, shown $shown:literal,
                    $doc:literal;
                )*
            }
        )*
    ) => {
        $(
            $(#[doc = $section_doc])*
            #[derive(Clone, Debug, PartialEq, serde::Serialize)]
            pub struct $Section {
                $( #[doc = $doc] pub $key: $ty, )*
            }
        )*

        /// Every setting, by section: the result of the layers, validated.
        #[derive(Clone, Debug, PartialEq, serde::Serialize)]
        pub struct Config {
            $( $(#[doc = $section_doc])* pub $section: $Section, )*
        }

        impl Config {
            /// The built-in defaults. `env` gives the variables some defaults derive from
            /// (`state_dir` from `XDG_STATE_HOME` or `HOME`); nothing else is read.
            pub fn defaults($env: &crate::Env) -> Config {
                let _ = $env;
                Config { $( $section: $Section { $( $key: $default, )* }, )* }
            }
        }

        /// The section names, in order.
        pub const SECTIONS: &[&str] = &[$(stringify!($section)),*];

        /// Every key, in section order.
        pub static FIELDS: &[Field] = &[
            $($(
                Field {
                    section: stringify!($section),
                    name: stringify!($key),
                    doc: $doc,
                    bounds: $bounds,
                    apply: Apply::$apply,
                    scope: Scope::$scope,
                    env_alias: $alias,
                    flag: $flag,
                    shown_default: $shown,
                    ops: Ops {
                        type_name: <$ty as SettingValue>::type_name,
                        from_toml: |config, value| {
                            let value = <$ty as SettingValue>::from_toml(value)?;
                            bounded(value, $bounds).map(|value| config.$section.$key = value)
                        },
                        from_text: |config, text| {
                            let value = <$ty as SettingValue>::from_text(text)?;
                            bounded(value, $bounds).map(|value| config.$section.$key = value)
                        },
                        to_toml: |config| config.$section.$key.to_toml(),
                        render: |config| config.$section.$key.render(),
                        same: |a, b| a.$section.$key == b.$section.$key,
                    },
                },
            )*)*
        ];
    };
}

pub(crate) use settings;
