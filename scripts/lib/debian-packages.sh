# Installs the Debian packages behind missing commands and files, so that a
# fresh machine gets what a script needs and a prepared one is left alone.
# Sourced by scripts; not run on its own.
#
#   need_command espeak-ng espeak-ng
#   need_file '/usr/lib/*/pkgconfig/sphinxbase.pc' libsphinxbase-dev
#   install_needed "the line's speech engines"

NEEDED_PACKAGES=()

# need_command COMMAND PACKAGE: PACKAGE provides COMMAND.
need_command() {
  command -v "$1" >/dev/null 2>&1 || NEEDED_PACKAGES+=("$2")
}

# need_file GLOB PACKAGE: PACKAGE provides a file matching GLOB.
need_file() {
  compgen -G "$1" >/dev/null || NEEDED_PACKAGES+=("$2")
}

# install_needed WHAT: installs the packages found missing (with sudo when
# not root), saying WHAT they are for.
install_needed() {
  [ "${#NEEDED_PACKAGES[@]}" -gt 0 ] || return 0
  echo "installing $1: ${NEEDED_PACKAGES[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${NEEDED_PACKAGES[@]}" >/dev/null
  NEEDED_PACKAGES=()
}
