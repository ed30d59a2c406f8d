#!/bin/sh
# Installs plantsync on macOS for the logged-in user: the binary into ~/.local/bin, the
# launchd agent ~/Library/LaunchAgents/com.plantsync.agent.plist (`plantsync run` at
# login, restarted when it fails, output in ~/Library/Logs/plantsync/), and, when the
# binary has the tray, com.plantsync.tray.plist (`plantsync tray` at login).
#
# --uninstall unloads and removes them and keeps the data
# (~/Library/Application Support/org.plantsync.plantsync); --purge removes the data and
# the logs too. Re-running the install replaces the files and reloads the agent.
# Details: installer/README.md.
set -eu

script_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$script_dir/../.." && pwd)

usage() {
    cat <<'EOF'
Usage: install.sh [--binary PATH] [--tray | --no-tray] [--no-start]
       install.sh --uninstall [--purge]
EOF
}

usage_error() {
    echo "install.sh: $1 (see --help)" >&2
    exit 2
}

die() {
    echo "install.sh: $1" >&2
    exit 1
}

action=install
purge=no
binary=""
tray=auto
start=yes
while [ $# -gt 0 ]; do
    case $1 in
        --binary)
            [ $# -ge 2 ] || usage_error "--binary needs a path"
            binary=$2
            shift
            ;;
        --binary=*) binary=${1#*=} ;;
        --tray) tray=yes ;;
        --no-tray) tray=no ;;
        --no-start) start=no ;;
        --uninstall) action=uninstall ;;
        --purge)
            action=uninstall
            purge=yes
            ;;
        -h | --help)
            usage
            exit 0
            ;;
        *) usage_error "unknown option: $1" ;;
    esac
    shift
done

[ -n "${HOME:-}" ] || die "HOME is not set"
case $HOME in
    *[\&\<\>@]*) die "HOME $HOME has a character the plist would need escaping for" ;;
esac

bin_dir=$HOME/.local/bin
agents_dir=$HOME/Library/LaunchAgents
log_dir=$HOME/Library/Logs/plantsync
data_dir="$HOME/Library/Application Support/org.plantsync.plantsync"
domain=gui/$(id -u)

unload() {
    launchctl bootout "$domain/$1" >/dev/null 2>&1 || true
}

if [ "$action" = uninstall ]; then
    for label in com.plantsync.tray com.plantsync.agent; do
        unload "$label"
        if [ -e "$agents_dir/$label.plist" ]; then
            rm -f "$agents_dir/$label.plist"
            echo "removed $agents_dir/$label.plist"
        fi
    done
    if [ -e "$bin_dir/plantsync" ]; then
        rm -f "$bin_dir/plantsync"
        echo "removed $bin_dir/plantsync"
    fi
    if [ "$purge" = yes ]; then
        rm -rf "$data_dir" "$log_dir"
        echo "removed $data_dir and $log_dir"
    elif [ -e "$data_dir" ]; then
        echo "kept $data_dir (remove it with --purge)"
    fi
    exit 0
fi

if [ -z "$binary" ]; then
    if [ -x "$repo_dir/target/release/plantsync" ]; then
        binary=$repo_dir/target/release/plantsync
    elif command -v plantsync >/dev/null 2>&1; then
        binary=$(command -v plantsync)
    else
        usage_error "no binary: build one (cargo build --release) or pass --binary PATH"
    fi
fi
if [ ! -f "$binary" ] || [ ! -x "$binary" ]; then
    usage_error "--binary $binary is not an executable file"
fi
"$binary" --version >/dev/null 2>&1 || die "$binary --version failed: not a working plantsync binary"
if [ "$tray" = auto ]; then
    if "$binary" tray --help >/dev/null 2>&1; then tray=yes; else tray=no; fi
fi

mkdir -p "$bin_dir" "$agents_dir"
mkdir -p "$log_dir"
chmod 0700 "$log_dir"
if ! cmp -s "$binary" "$bin_dir/plantsync"; then
    cp "$binary" "$bin_dir/plantsync.install-tmp.$$"
    chmod 0755 "$bin_dir/plantsync.install-tmp.$$"
    mv -f "$bin_dir/plantsync.install-tmp.$$" "$bin_dir/plantsync"
fi

labels=com.plantsync.agent
if [ "$tray" = yes ]; then
    labels="$labels com.plantsync.tray"
fi
for label in $labels; do
    sed "s|@HOME@|$HOME|g" "$script_dir/$label.plist" >"$agents_dir/$label.plist"
    chmod 0644 "$agents_dir/$label.plist"
    plutil -lint "$agents_dir/$label.plist" >/dev/null
    echo "installed $agents_dir/$label.plist"
done

if [ "$start" = yes ]; then
    for label in $labels; do
        unload "$label"
        launchctl bootstrap "$domain" "$agents_dir/$label.plist"
    done
    echo "the agent runs: launchctl print $domain/com.plantsync.agent"
else
    echo "not started; to start it now: launchctl bootstrap $domain $agents_dir/com.plantsync.agent.plist"
fi
case ":${PATH:-}:" in
    *":$bin_dir:"*) ;;
    *) echo "note: $bin_dir is not on PATH; add it to use the plantsync command" ;;
esac
