#!/usr/bin/env bash
# The whole test suite, as CI runs it (`.ci/run` calls exactly this).
#
# Works on a fresh Debian machine with only the Rust toolchain, as root (or with sudo):
# installs the system packages the tests use, then runs formatting, lints, docs and every
# test. Safe to run again; it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# System packages the tests need:
#   sqlite3          the tests read the agent's database with the real sqlite3 CLI
#   dbus             dbus-daemon and dbus-send: a private session bus for the keyring test
#   gnome-keyring    a real Secret Service on that bus (tests/integration/keyring.rs)
#   libsecret-tools  secret-tool, to look at the entries plantsync wrote
#   postgresql       initdb and pg_ctl: a throwaway central database for the upstream tests
#                    (tests/integration/postgres.rs); the service it installs is not used
#   openssl          the private CA and server certificate of the TLS-only cluster
#                    (tests/integration/postgres.rs, TlsCluster)
packages=()
command -v sqlite3 >/dev/null 2>&1 || packages+=(sqlite3)
command -v dbus-daemon >/dev/null 2>&1 || packages+=(dbus-daemon)
command -v dbus-send >/dev/null 2>&1 || packages+=(dbus-bin)
command -v gnome-keyring-daemon >/dev/null 2>&1 || packages+=(gnome-keyring)
command -v secret-tool >/dev/null 2>&1 || packages+=(libsecret-tools)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
command -v openssl >/dev/null 2>&1 || packages+=(openssl)
# Desktop notifications (tests/integration/notifications.rs): a real notification server
# on a private session bus. dunst prints what it receives (`dunst -print`) and needs an X
# display (Xvfb); libnotify-bin's notify-send is for trying it by hand.
command -v dunst >/dev/null 2>&1 || packages+=(dunst)
command -v notify-send >/dev/null 2>&1 || packages+=(libnotify-bin)
command -v Xvfb >/dev/null 2>&1 || packages+=(xvfb)
command -v dbus-run-session >/dev/null 2>&1 || packages+=(dbus)
# The dashboard (tests/integration/dashboard.rs): Debian's headless Chromium loads the
# agent's pages through the one-time login and dumps the DOM and a screenshot.
command -v chromium >/dev/null 2>&1 || packages+=(chromium)
# The tray (feature `tray`; CI builds --all-features, so before the first cargo command):
#   libgtk-3-dev                 GTK3 headers, to build tray-icon's Linux backend
#   libayatana-appindicator3-1   the AppIndicator library the tray loads at run time (dlopen)
#   xvfb xauth                   an X server without a screen (tests/integration/tray.rs)
#   trayer                       an XEmbed tray host;  xdotool: the test's clicks and keys
#   x11-utils                    xwininfo, xdpyinfo;   imagemagick: `import` (screenshots)
#   dbus                         dbus-run-session (the tray's session bus, when there is one)
for package in libgtk-3-dev libayatana-appindicator3-1 xvfb xauth trayer xdotool x11-utils imagemagick dbus; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "ok installed" || packages+=("$package")
done
if ((${#packages[@]})); then
    echo "==> installing system packages: ${packages[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${packages[@]}"
fi

# --- Installers (tests/integration/installers.rs) -------------------------------------
#   systemd     systemd-analyze verify checks the units the installers write
#   linting     shellcheck on installer/**/*.sh and the .deb's maintainer scripts
#   python3     plistlib parses the macOS launchd plists
#   desktop-file-utils  desktop-file-validate checks the tray's autostart entry
#   cargo-deb   builds the .deb (a release build, once), which the test installs with dpkg
installer_packages=()
command -v systemd-analyze >/dev/null 2>&1 || installer_packages+=(systemd)
command -v shellcheck >/dev/null 2>&1 || installer_packages+=(shellcheck)
command -v python3 >/dev/null 2>&1 || installer_packages+=(python3)
command -v desktop-file-validate >/dev/null 2>&1 || installer_packages+=(desktop-file-utils)
# dpkg-shlibdeps fills the .deb's `$auto` dependencies (GTK among them).
command -v dpkg-shlibdeps >/dev/null 2>&1 || installer_packages+=(dpkg-dev)
if ((${#installer_packages[@]})); then
    echo "==> installing system packages for the installer tests: ${installer_packages[*]}"
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${installer_packages[@]}"
fi
if ! cargo deb --version 2>/dev/null | grep -q ' 3\.8\.'; then
    echo "==> installing cargo-deb 3.8"
    cargo install cargo-deb --locked --version '~3.8'
fi
# --- end of the installers block -------------------------------------------------------

for component in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --all-features -- -D warnings
echo "==> cargo test"
cargo test --all-features
echo "==> cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --all-features
echo "==> all checks passed"
