//! A vendor account's credentials, and which of them each vendor kind needs.
//!
//! The fields are generic (username, password, app id, app secret, api key, company id)
//! because every portal uses a subset of them under its own names; [`CredentialField::label`]
//! gives the portal's name for each so prompts and errors speak the user's language.

use super::{Secret, VendorKind};

/// One credential field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialField {
    /// Login name or e-mail.
    Username,
    /// Password (FusionSolar: the Northbound system code).
    Password,
    /// Application id (Solarman appId, Sungrow appkey).
    AppId,
    /// Application secret (Solarman appSecret, Sungrow secret key / x-access-key).
    AppSecret,
    /// API key or token (SolarEdge api_key, Growatt token).
    ApiKey,
    /// Solarman business `orgId` (optional).
    CompanyId,
}

impl CredentialField {
    /// Whether the value is a secret: read from a prompt or stdin, never from a flag, never
    /// printed.
    pub const fn is_secret(self) -> bool {
        matches!(self, Self::Password | Self::AppSecret | Self::ApiKey)
    }

    /// The name of the field in the store and in `vendor show`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Password => "password",
            Self::AppId => "app_id",
            Self::AppSecret => "app_secret",
            Self::ApiKey => "api_key",
            Self::CompanyId => "company_id",
        }
    }

    /// The command-line flag of the field: it takes the value on `vendor add` and `vendor
    /// set` when the field is not a secret, and asks for a new value on `vendor set` when it
    /// is (secrets are never flag values).
    pub const fn flag(self) -> &'static str {
        match self {
            Self::Username => "--username",
            Self::Password => "--password",
            Self::AppId => "--app-id",
            Self::AppSecret => "--app-secret",
            Self::ApiKey => "--api-key",
            Self::CompanyId => "--company-id",
        }
    }

    /// The portal's name of the field with its flag, where the two differ
    /// (`FusionSolar systemCode (--password)`), so a person can tell which flag sets it.
    pub fn described(self, kind: VendorKind) -> String {
        let label = self.label(kind);
        let same = label.replace(' ', "-").eq_ignore_ascii_case(&self.flag()[2..]);
        if same { label.to_owned() } else { format!("{label} ({})", self.flag()) }
    }

    /// What the vendor's portal calls this field. No label has parentheses of its own:
    /// [`CredentialField::described`] and `vendor add --help` add the flag in parentheses.
    pub const fn label(self, kind: VendorKind) -> &'static str {
        match (kind, self) {
            (VendorKind::Solarman, Self::AppId) => "Solarman appId",
            (VendorKind::Solarman, Self::AppSecret) => "Solarman appSecret",
            (VendorKind::Solarman, Self::CompanyId) => "Solarman business orgId",
            (VendorKind::Sungrow, Self::AppId) => "iSolarCloud app key",
            (VendorKind::Sungrow, Self::AppSecret) => "iSolarCloud x-access-key secret",
            (VendorKind::Huawei, Self::Username) => "FusionSolar API account userName",
            (VendorKind::Huawei, Self::Password) => "FusionSolar systemCode",
            (VendorKind::SolarEdge, Self::ApiKey) => "SolarEdge API key",
            (VendorKind::Growatt, Self::ApiKey) => "Growatt API token",
            (_, Self::Username) => "username",
            (_, Self::Password) => "password",
            (_, Self::AppId) => "app id",
            (_, Self::AppSecret) => "app secret",
            (_, Self::ApiKey) => "API key",
            (_, Self::CompanyId) => "company id",
        }
    }
}

impl VendorKind {
    /// The `vendor set` flag that replaces the secret this kind's portal judges: the API
    /// key of static-key portals, else the password (FusionSolar: the system code).
    pub fn secret_flag(self) -> &'static str {
        if self.required_credentials().contains(&CredentialField::ApiKey) {
            "--api-key"
        } else {
            "--password"
        }
    }

    /// Credential fields a vendor of this kind may have but can sync without.
    pub const fn optional_credentials(self) -> &'static [CredentialField] {
        match self {
            Self::Solarman => &[CredentialField::CompanyId],
            Self::Sungrow | Self::SolarEdge | Self::Growatt | Self::Huawei => &[],
        }
    }

    /// The credential fields a vendor of this kind cannot sync without, in prompt order.
    pub const fn required_credentials(self) -> &'static [CredentialField] {
        use CredentialField::*;
        match self {
            Self::Solarman | Self::Sungrow => &[AppId, Username, AppSecret, Password],
            Self::SolarEdge | Self::Growatt => &[ApiKey],
            Self::Huawei => &[Username, Password],
        }
    }
}

/// The credentials of one vendor account. Secrets are [`Secret`]s, so `Debug` is safe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// Login name or e-mail.
    pub username: Option<String>,
    /// Password or system code.
    pub password: Option<Secret>,
    /// Application id.
    pub app_id: Option<String>,
    /// Application secret.
    pub app_secret: Option<Secret>,
    /// API key or token.
    pub api_key: Option<Secret>,
    /// Solarman business orgId.
    pub company_id: Option<String>,
}

impl Credentials {
    /// Whether a field has a non-empty value.
    pub fn has(&self, field: CredentialField) -> bool {
        match field {
            CredentialField::Username => self.username.as_deref().is_some_and(|v| !v.is_empty()),
            CredentialField::Password => self.password.as_ref().is_some_and(|v| !v.is_empty()),
            CredentialField::AppId => self.app_id.as_deref().is_some_and(|v| !v.is_empty()),
            CredentialField::AppSecret => self.app_secret.as_ref().is_some_and(|v| !v.is_empty()),
            CredentialField::ApiKey => self.api_key.as_ref().is_some_and(|v| !v.is_empty()),
            CredentialField::CompanyId => self.company_id.as_deref().is_some_and(|v| !v.is_empty()),
        }
    }

    /// Sets one field from text (secrets are wrapped).
    pub fn set(&mut self, field: CredentialField, value: String) {
        match field {
            CredentialField::Username => self.username = Some(value),
            CredentialField::Password => self.password = Some(Secret::new(value)),
            CredentialField::AppId => self.app_id = Some(value),
            CredentialField::AppSecret => self.app_secret = Some(Secret::new(value)),
            CredentialField::ApiKey => self.api_key = Some(Secret::new(value)),
            CredentialField::CompanyId => self.company_id = Some(value),
        }
    }

    /// The required fields of `kind` that are missing.
    pub fn missing_for(&self, kind: VendorKind) -> Vec<CredentialField> {
        kind.required_credentials().iter().copied().filter(|f| !self.has(*f)).collect()
    }

    /// Copies every field that `newer` sets over this one (a partial update).
    pub fn merge(&mut self, newer: Credentials) {
        self.username = newer.username.or(self.username.take());
        self.password = newer.password.or(self.password.take());
        self.app_id = newer.app_id.or(self.app_id.take());
        self.app_secret = newer.app_secret.or(self.app_secret.take());
        self.api_key = newer.api_key.or(self.api_key.take());
        self.company_id = newer.company_id.or(self.company_id.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_follow_the_kind() {
        let mut creds = Credentials::default();
        assert_eq!(creds.missing_for(VendorKind::SolarEdge), vec![CredentialField::ApiKey]);
        creds.set(CredentialField::Username, "ops".into());
        creds.set(CredentialField::Password, "pw".into());
        assert!(creds.missing_for(VendorKind::Huawei).is_empty());
        assert_eq!(creds.missing_for(VendorKind::Solarman).len(), 2);
    }

    #[test]
    fn fields_are_described_by_the_portal_name_and_the_flag_that_sets_them() {
        assert_eq!(
            CredentialField::Password.described(VendorKind::Huawei),
            "FusionSolar systemCode (--password)"
        );
        assert_eq!(CredentialField::Password.described(VendorKind::Solarman), "password");
        assert_eq!(CredentialField::AppId.described(VendorKind::Growatt), "app id");
        assert_eq!(
            CredentialField::ApiKey.described(VendorKind::Growatt),
            "Growatt API token (--api-key)"
        );
    }

    /// `described` adds the flag in parentheses, so a label with its own would read
    /// `secret key (x-access-key) (--app-secret)`.
    #[test]
    fn no_description_has_doubled_parentheses() {
        use CredentialField::*;
        for kind in VendorKind::ALL.iter().copied() {
            for field in [Username, Password, AppId, AppSecret, ApiKey, CompanyId] {
                let text = field.described(kind);
                assert!(text.matches('(').count() <= 1, "{kind} {field:?}: {text}");
            }
        }
        assert_eq!(
            AppSecret.described(VendorKind::Sungrow),
            "iSolarCloud x-access-key secret (--app-secret)"
        );
    }

    #[test]
    fn merge_keeps_what_the_update_leaves_out() {
        let mut creds = Credentials { username: Some("a".into()), ..Default::default() };
        creds.merge(Credentials { password: Some(Secret::new("p")), ..Default::default() });
        assert_eq!(creds.username.as_deref(), Some("a"));
        assert_eq!(creds.password.as_ref().map(Secret::expose), Some("p"));
    }

    #[test]
    fn debug_redacts_every_secret() {
        let mut creds = Credentials::default();
        creds.set(CredentialField::Password, "pw-123".into());
        creds.set(CredentialField::AppSecret, "as-456".into());
        creds.set(CredentialField::ApiKey, "ak-789".into());
        let text = format!("{creds:?}");
        for secret in ["pw-123", "as-456", "ak-789"] {
            assert!(!text.contains(secret), "{text}");
        }
    }
}
