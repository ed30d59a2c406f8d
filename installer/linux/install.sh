#!/bin/sh
# Installs plantsync on Linux: per user (default) or as a system service (--system).
#
# Per user: the binary into ~/.local/bin, a systemd user unit for the agent
# (~/.config/systemd/user/plantsync.service), and an XDG autostart entry for the tray
# (~/.config/autostart/plantsync-tray.desktop) when the binary has the tray. The unit is
# enabled and started when a systemd user manager answers; otherwise the command to do it
# is printed.
#
# --system (a site box without a desktop, as root): the binary into PREFIX/bin (default
# /usr/local/bin), a system unit /etc/systemd/system/plantsync.service running as the
# dedicated user `plantsync` with its data in /var/lib/plantsync, and a commented example
# config /etc/plantsync/config.toml (written once, never overwritten).
#
# Every file and directory the script creates is listed in a manifest, so --uninstall
# removes exactly those (the data dir and the config are kept; --purge removes them too).
# Re-running the install changes nothing that is already right. DESTDIR (or --destdir)
# stages everything under another root: nothing outside it is touched, no user is created
# and no service manager is called.
#
# Run `sh installer/linux/install.sh --help` for the options. Details: installer/README.md.
set -eu

script_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$script_dir/../.." && pwd)

usage() {
    cat <<'EOF'
Usage: install.sh [--system] [options]
       install.sh [--system] --uninstall [--purge]

  --binary PATH   the plantsync binary to install (default: target/release/plantsync of
                  this checkout, else the plantsync on PATH)
  --system        install a system service (run as root) instead of a per-user one
  --prefix DIR    with --system: where the binary goes, DIR/bin (default /usr/local)
  --destdir DIR   stage the files under DIR (same as the DESTDIR variable): no user is
                  created and systemctl is not called
  --tray          install the tray's autostart entry even if the binary has no tray
  --no-tray       do not install the tray's autostart entry
  --no-start      install the unit but do not enable or start it
  --uninstall     remove what the install created; keep the data and the config
  --purge         --uninstall, and remove the data dir and the config too
  -h, --help      this text
EOF
}

# A usage error: said once, exit code 2 (as plantsync's own usage errors).
usage_error() {
    echo "install.sh: $1 (see --help)" >&2
    exit 2
}

die() {
    echo "install.sh: $1" >&2
    exit 1
}

say() {
    echo "$1"
}

mode=user
action=install
purge=no
binary=""
tray=auto
start=yes
prefix=/usr/local
root=${DESTDIR:-}

while [ $# -gt 0 ]; do
    case $1 in
        --system) mode=system ;;
        --user) mode=user ;;
        --binary)
            [ $# -ge 2 ] || usage_error "--binary needs a path"
            binary=$2
            shift
            ;;
        --binary=*) binary=${1#*=} ;;
        --prefix)
            [ $# -ge 2 ] || usage_error "--prefix needs a directory"
            prefix=$2
            shift
            ;;
        --prefix=*) prefix=${1#*=} ;;
        --destdir)
            [ $# -ge 2 ] || usage_error "--destdir needs a directory"
            root=$2
            shift
            ;;
        --destdir=*) root=${1#*=} ;;
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

case $prefix in
    /*) ;;
    *) usage_error "--prefix must be an absolute path: $prefix" ;;
esac
if [ -n "$root" ]; then
    case $root in
        /*) ;;
        *) root=$(pwd)/$root ;;
    esac
    root=${root%/}
fi

# An XDG base directory variable counts only when it is an absolute path (the spec, and
# the `directories` crate plantsync resolves its own paths with).
xdg_dir() {
    case ${1:-} in
        /*) echo "$1" ;;
        *) echo "$2" ;;
    esac
}

if [ "$mode" = user ]; then
    [ -n "${HOME:-}" ] || die "HOME is not set: cannot find the per-user directories"
    case $HOME in
        /*) ;;
        *) die "HOME must be an absolute path: $HOME" ;;
    esac
    [ -d "$root$HOME" ] || die "HOME $HOME is not a directory"
    config_home=$(xdg_dir "${XDG_CONFIG_HOME:-}" "$HOME/.config")
    data_home=$(xdg_dir "${XDG_DATA_HOME:-}" "$HOME/.local/share")
    state_home=$(xdg_dir "${XDG_STATE_HOME:-}" "$HOME/.local/state")
    bin_dir=$HOME/.local/bin
    unit_dir=$config_home/systemd/user
    autostart_dir=$config_home/autostart
    data_dir=$data_home/plantsync
    config_dir=$config_home/plantsync
    manifest_dir=$state_home/plantsync-installer
    new_dir_mode=0700
else
    bin_dir=$prefix/bin
    unit_dir=/etc/systemd/system
    data_dir=/var/lib/plantsync
    config_dir=/etc/plantsync
    manifest_dir=$prefix/share/plantsync-installer
    new_dir_mode=0755
fi
unit=$unit_dir/plantsync.service
installed_binary=$bin_dir/plantsync
manifest=$manifest_dir/manifest

# --- the manifest: one "dir PATH" or "file PATH" line per thing the install created ------

manifest_entries=""
if [ -f "$root$manifest" ]; then
    manifest_entries=$(cat "$root$manifest")
fi

record() {
    if ! printf '%s\n' "$manifest_entries" | grep -Fqx -- "$1"; then
        if [ -n "$manifest_entries" ]; then
            manifest_entries="$manifest_entries
$1"
        else
            manifest_entries=$1
        fi
    fi
}

# Creates a directory and its missing parents, recording each one it creates.
make_dir() {
    if [ ! -d "$root$1" ]; then
        make_dir "$(dirname "$1")"
        mkdir -m "$new_dir_mode" "$root$1"
        record "dir $1"
    fi
}

# Puts the content of file $1 at $2 with mode $3, replacing it only when it differs (so a
# re-run leaves the file, and a running binary, alone), and through a rename (never a
# half-written file).
put_file() {
    make_dir "$(dirname "$2")"
    # A file this installer did not write (an older manual install, an admin's own unit) is
    # never overwritten, nor later removed by --uninstall as if it were ours.
    if [ -e "$root$2" ] && ! cmp -s "$1" "$root$2" \
        && ! printf '%s\n' "$manifest_entries" | grep -Fqx -- "file $2"; then
        die "$root$2 exists and was not written by this installer: move it away first"
    fi
    if ! cmp -s "$1" "$root$2"; then
        tmp="$root$2.install-tmp.$$"
        cp "$1" "$tmp"
        chmod "$3" "$tmp"
        mv -f "$tmp" "$root$2"
        changed=yes
    fi
    chmod "$3" "$root$2"
    record "file $2"
}

save_manifest() {
    make_dir "$manifest_dir"
    printf '%s\n' "$manifest_entries" >"$root$manifest.tmp.$$"
    if cmp -s "$root$manifest.tmp.$$" "$root$manifest"; then
        rm -f "$root$manifest.tmp.$$"
    else
        chmod 0644 "$root$manifest.tmp.$$"
        mv -f "$root$manifest.tmp.$$" "$root$manifest"
    fi
}

# --- service manager -------------------------------------------------------------------

# systemctl is called only for the real machine (no DESTDIR) and when its manager answers.
manager_reachable() {
    [ -z "$root" ] || return 1
    command -v systemctl >/dev/null 2>&1 || return 1
    if [ "$mode" = user ]; then
        systemctl --user show-environment >/dev/null 2>&1
    else
        [ -d /run/systemd/system ]
    fi
}

systemctl_mode() {
    if [ "$mode" = user ]; then
        systemctl --user "$@"
    else
        systemctl "$@"
    fi
}

if [ "$mode" = user ]; then
    start_command="systemctl --user daemon-reload && systemctl --user enable --now plantsync.service"
else
    start_command="systemctl daemon-reload && systemctl enable --now plantsync.service"
fi

# --- uninstall -------------------------------------------------------------------------

if [ "$action" = uninstall ]; then
    if [ "$mode" = system ] && [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
        die "--system --uninstall needs root (or DESTDIR)"
    fi
    if manager_reachable; then
        systemctl_mode disable --now plantsync.service >/dev/null 2>&1 || true
    fi
    # An `enable` made by the install (or by hand, following its advice) left this link.
    for wants in default.target.wants multi-user.target.wants; do
        link=$root$unit_dir/$wants/plantsync.service
        if [ -L "$link" ]; then
            rm -f "$link"
            rmdir "$root$unit_dir/$wants" 2>/dev/null || true
        fi
    done
    if [ -z "$manifest_entries" ]; then
        say "nothing to uninstall: no install manifest at $root$manifest"
    fi
    # The data and the config first, so the directories the install made around them
    # can go too.
    if [ "$purge" = yes ]; then
        for dir in "$data_dir" "$config_dir"; do
            if [ -e "$root$dir" ]; then
                rm -rf "$root$dir"
                say "removed $dir"
            fi
        done
    else
        for dir in "$data_dir" "$config_dir"; do
            if [ -e "$root$dir" ]; then
                say "kept $dir (remove it with --purge)"
            fi
        done
    fi
    rm -f "$root$manifest"
    # Newest first: files, then the directories they were in (only when empty: anything
    # the user put there stays).
    printf '%s\n' "$manifest_entries" | sed '1!G;h;$!d' | while IFS= read -r entry; do
        case $entry in
            "file "*)
                rm -f "$root${entry#file }"
                say "removed ${entry#file }"
                ;;
            "dir "*) rmdir "$root${entry#dir }" 2>/dev/null || true ;;
            "user "*)
                if [ "$purge" = yes ] && [ -z "$root" ]; then
                    userdel "${entry#user }" && say "removed the system user ${entry#user }"
                fi
                ;;
        esac
    done
    if manager_reachable; then
        systemctl_mode daemon-reload || true
    fi
    exit 0
fi

# --- install ---------------------------------------------------------------------------

if [ "$mode" = system ] && [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    die "--system needs root (or DESTDIR to stage the files under a directory)"
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

# A site box (--system) has no desktop session to start the tray in: never an autostart
# entry there, whatever the binary holds.
if [ "$mode" = system ]; then
    if [ "$tray" = yes ]; then
        usage_error "--tray is for a desktop user's install, not --system"
    fi
    tray=no
elif [ "$tray" = auto ]; then
    if "$binary" tray --help >/dev/null 2>&1; then
        tray=yes
    else
        tray=no
    fi
fi

# Paths end up in unit files and a desktop entry: refuse the characters those formats
# would need escaping for, rather than writing a unit that means something else.
for path in "$installed_binary" "$data_dir"; do
    case $path in
        *[[:space:]]* | *%* | *\"* | *\\* | *\`* | *\$*)
            die "cannot install to $path: spaces, %, quotes, \\, \` and \$ are not supported in it"
            ;;
    esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
changed=no

put_file "$binary" "$installed_binary" 0755

if [ "$mode" = user ]; then
    # The unit names the data dir with %h (the home dir) unless XDG_DATA_HOME moves it.
    unit_data_dir='%h/.local/share/plantsync'
    if [ "$data_dir" != "$HOME/.local/share/plantsync" ]; then
        unit_data_dir=$data_dir
    fi
    sed -e "s|^ExecStart=/usr/bin/plantsync |ExecStart=%h/.local/bin/plantsync |" \
        -e "s|%h/.local/share/plantsync|$unit_data_dir|g" \
        "$script_dir/plantsync-user.service" >"$work/unit"
    put_file "$work/unit" "$unit" 0644
    if [ "$tray" = yes ]; then
        sed -e "s|^Exec=plantsync |Exec=\"$installed_binary\" |" \
            -e "s|^TryExec=plantsync$|TryExec=$installed_binary|" \
            "$repo_dir/assets/plantsync-tray.desktop" >"$work/desktop"
        put_file "$work/desktop" "$autostart_dir/plantsync-tray.desktop" 0644
    fi
else
    sed -e "s|^ExecStart=/usr/bin/plantsync |ExecStart=$installed_binary |" \
        "$script_dir/plantsync.service" >"$work/unit"
    put_file "$work/unit" "$unit" 0644

    have_user=no
    if [ -z "$root" ]; then
        if getent passwd plantsync >/dev/null 2>&1; then
            have_user=yes
        else
            useradd --system --user-group --home-dir /var/lib/plantsync --no-create-home \
                --shell /usr/sbin/nologin --comment "plantsync agent" plantsync
            record "user plantsync"
            have_user=yes
            say "created the system user plantsync"
        fi
    else
        say "DESTDIR: not creating the system user plantsync; on the target run:"
        say "  useradd --system --user-group --home-dir /var/lib/plantsync --no-create-home --shell /usr/sbin/nologin plantsync"
    fi
    # The config: written once (it is the site's own from then on), readable by the agent.
    if [ ! -e "$root$config_dir/config.toml" ]; then
        make_dir "$config_dir"
        chmod 0750 "$root$config_dir"
        "$binary" --config "$root$config_dir/config.toml" init >/dev/null
        chmod 0640 "$root$config_dir/config.toml"
        if [ "$have_user" = yes ]; then
            chgrp plantsync "$root$config_dir" "$root$config_dir/config.toml"
        fi
        say "wrote the example config $config_dir/config.toml"
    fi
fi
save_manifest

say "installed $installed_binary and $unit"
if [ "$tray" = yes ]; then
    say "installed the tray's autostart entry $autostart_dir/plantsync-tray.desktop"
elif [ "$mode" = user ]; then
    say "no tray autostart entry: $binary has no tray (build with --features tray, or pass --tray)"
fi

if [ "$start" = no ]; then
    say "not started (--no-start); to start the agent now and at every boot or login: $start_command"
elif manager_reachable; then
    systemctl_mode daemon-reload
    systemctl_mode enable --now plantsync.service
    if [ "$changed" = yes ]; then
        systemctl_mode try-restart plantsync.service
    fi
    if [ "$mode" = user ]; then
        say "the agent runs: systemctl --user status plantsync.service"
    else
        say "the agent runs: systemctl status plantsync.service"
    fi
else
    if [ -n "$root" ]; then
        why="files staged under DESTDIR $root"
    elif [ "$mode" = user ]; then
        why="no systemd user manager answers"
    else
        why="systemd is not running"
    fi
    say "$why: to start the agent now and at every boot or login, run:"
    say "  $start_command"
fi
if [ "$mode" = user ]; then
    case ":${PATH:-}:" in
        *":$bin_dir:"*) ;;
        *) say "note: $bin_dir is not on PATH; add it to use the plantsync command" ;;
    esac
fi
