#!/bin/sh
# Install the Pagemind bundle for the current user, without root:
#   the app            ~/.local/opt/pagemind/
#   the command        ~/.local/bin/pagemind
#   the menu entry     ~/.local/share/applications/pagemind.desktop
#   the icons          ~/.local/share/icons/hicolor/<size>/apps/pagemind.png
# Your conversations, documents index, settings and models live elsewhere
# (~/.local/share/pagemind, ~/.config/pagemind): installing, upgrading and
# uninstalling never touch them.
#
# Usage: ./install.sh [--prefix DIR] [--uninstall]   (run it from the bundle folder)
set -eu

PREFIX="${HOME}/.local"
UNINSTALL=0
BUNDLE="$(cd "$(dirname "$0")" && pwd)"

usage() {
    echo "usage: $0 [--prefix DIR] [--uninstall]"
    echo "  --prefix DIR   install below DIR instead of ~/.local"
    echo "  --uninstall    remove an installed Pagemind (your data is kept)"
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix)
            [ $# -ge 2 ] || { usage >&2; exit 2; }
            PREFIX="$2"; shift 2 ;;
        --prefix=*) PREFIX="${1#--prefix=}"; shift ;;
        --uninstall) UNINSTALL=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
    esac
done

case "$PREFIX" in
    /*) ;;
    *) PREFIX="$(pwd)/$PREFIX" ;;
esac
case "$PREFIX" in
    *[\"\`\$\\\|\&]*)
        echo "install.sh: the prefix may not contain \" \` \$ \\ | or &: $PREFIX" >&2
        exit 2 ;;
esac
APP_DIR="$PREFIX/opt/pagemind"
BIN_LINK="$PREFIX/bin/pagemind"
DESKTOP_FILE="$PREFIX/share/applications/pagemind.desktop"
ICON_ROOT="$PREFIX/share/icons/hicolor"
MARKER="X-Pagemind-Installed-By=install.sh"

fail() { echo "install.sh: $*" >&2; exit 1; }

is_bundle() { [ -x "$1/Pagemind" ] && [ -d "$1/_internal" ]; }

refresh_caches() {
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$PREFIX/share/applications" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$ICON_ROOT/index.theme" ]; then
        gtk-update-icon-cache -q -t -f "$ICON_ROOT" 2>/dev/null || true
    fi
}

remove_icons() {
    for icon in "$ICON_ROOT"/*/apps/pagemind.png; do
        [ -f "$icon" ] && rm -f "$icon"
    done
    return 0
}

if [ "$UNINSTALL" -eq 1 ]; then
    if [ -e "$APP_DIR" ]; then
        is_bundle "$APP_DIR" || fail "$APP_DIR is not a Pagemind install; leaving it alone"
        rm -rf "$APP_DIR"
    fi
    if [ -L "$BIN_LINK" ]; then
        rm -f "$BIN_LINK"
    elif [ -e "$BIN_LINK" ]; then
        echo "install.sh: $BIN_LINK is not the link this script made; left as it is" >&2
    fi
    if [ -f "$DESKTOP_FILE" ] && grep -q "^$MARKER" "$DESKTOP_FILE"; then
        rm -f "$DESKTOP_FILE"
    fi
    remove_icons
    refresh_caches
    echo "Pagemind is uninstalled. Your data and settings were kept."
    exit 0
fi

is_bundle "$BUNDLE" || fail "run install.sh from inside the built bundle (dist/Pagemind/install.sh): $BUNDLE has no Pagemind executable"
[ "$BUNDLE" != "$APP_DIR" ] || fail "this bundle is already the installed copy ($APP_DIR)"
if [ -e "$APP_DIR" ] && ! is_bundle "$APP_DIR"; then
    fail "$APP_DIR exists and is not a Pagemind install; move it away first"
fi
if [ -e "$BIN_LINK" ] && [ ! -L "$BIN_LINK" ]; then
    fail "$BIN_LINK exists and is not a link; move it away first"
fi

# Copy beside the old install, then swap: an interrupted copy never leaves a broken app.
mkdir -p "$PREFIX/opt" "$PREFIX/bin" "$PREFIX/share/applications"
STAGING="$APP_DIR.new.$$"
trap 'rm -rf "$STAGING"' EXIT INT TERM
cp -R "$BUNDLE" "$STAGING"
if [ -e "$APP_DIR" ]; then
    OLD="$APP_DIR.old.$$"
    mv "$APP_DIR" "$OLD"
    mv "$STAGING" "$APP_DIR"
    rm -rf "$OLD"
else
    mv "$STAGING" "$APP_DIR"
fi
trap - EXIT INT TERM

ln -sfn "$APP_DIR/Pagemind" "$BIN_LINK"

if [ -d "$BUNDLE/icons/hicolor" ]; then
    for icon in "$BUNDLE"/icons/hicolor/*/apps/pagemind.png; do
        size_dir="$(basename "$(dirname "$(dirname "$icon")")")"
        mkdir -p "$ICON_ROOT/$size_dir/apps"
        cp "$icon" "$ICON_ROOT/$size_dir/apps/pagemind.png"
    done
fi

TMP_DESKTOP="$DESKTOP_FILE.$$"
sed -e "s|^Exec=.*|Exec=\"$APP_DIR/Pagemind\"|" \
    -e "s|^TryExec=.*|TryExec=$APP_DIR/Pagemind|" \
    "$BUNDLE/pagemind.desktop" > "$TMP_DESKTOP"
echo "$MARKER" >> "$TMP_DESKTOP"
chmod 644 "$TMP_DESKTOP"
mv "$TMP_DESKTOP" "$DESKTOP_FILE"
refresh_caches

echo "Pagemind is installed in $APP_DIR."
echo "Start it from your applications menu, or run: $BIN_LINK"
case ":${PATH}:" in
    *":$PREFIX/bin:"*) ;;
    *) echo "Note: $PREFIX/bin is not on your PATH; add it to run 'pagemind' by name." ;;
esac
