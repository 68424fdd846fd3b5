# Finds a JDK 25 (or newer) and exports JAVA_HOME to it. Sourced by ./attn4j and ./mvnw (POSIX sh).
# Order: $JAVA_HOME, the `java` on the PATH, then the usual install directories.
# On failure it prints what to install and returns 1.

attn4j_jdk_major() {
  # Prints the feature version of the JDK at $1 ("25"), or nothing if $1 is not a JDK with javac.
  [ -x "$1/bin/java" ] && [ -x "$1/bin/javac" ] || return 0
  if [ -f "$1/release" ]; then
    v=$(sed -n 's/^JAVA_VERSION="\([0-9][0-9]*\).*/\1/p' "$1/release")
  else
    v=$("$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9][0-9]*\).*/\1/p' | head -n 1)
  fi
  printf '%s' "$v"
}

attn4j_find_jdk() {
  need=25
  candidates=""
  [ -n "${JAVA_HOME-}" ] && candidates="$JAVA_HOME"
  if command -v java >/dev/null 2>&1; then
    j=$(command -v java)
    j=$(readlink -f "$j" 2>/dev/null || printf '%s' "$j")
    candidates="$candidates
${j%/bin/java}"
  fi
  case $- in *f*) restore_noglob=1 ;; *) restore_noglob=0 ;; esac
  set +f # mvnw runs with `set -f`; the install directories need globbing
  for d in /usr/lib/jvm/* /usr/java/* /opt/java/* /opt/jdk* /Library/Java/JavaVirtualMachines/*/Contents/Home \
           "${HOME-}"/.sdkman/candidates/java/* "${HOME-}"/.jdks/* "${HOME-}"/.local/share/jdk*; do
    [ -d "$d" ] && candidates="$candidates
$d"
  done
  [ "$restore_noglob" = 1 ] && set -f
  best="" best_major=0
  old_ifs=$IFS
  IFS='
'
  for c in $candidates; do
    m=$(attn4j_jdk_major "$c")
    [ -n "$m" ] || continue
    # The first candidate that qualifies wins: an explicit JAVA_HOME or PATH choice is respected.
    if [ "$m" -ge "$need" ] && [ -z "$best" ]; then best="$c" best_major=$m; fi
  done
  IFS=$old_ifs
  if [ -z "$best" ]; then
    cat >&2 <<MSG
attn4j needs a JDK $need or newer (with javac); none was found in \$JAVA_HOME, on the PATH,
or in /usr/lib/jvm, /usr/java, /opt/java, /Library/Java/JavaVirtualMachines, ~/.sdkman, ~/.jdks.
Install one, for example:
  Debian/Ubuntu: the temurin-25-jdk package from https://packages.adoptium.net (apt), or
  any OS:        a JDK 25 archive from https://adoptium.net, then export JAVA_HOME=/path/to/jdk-25
MSG
    return 1
  fi
  JAVA_HOME="$best"
  export JAVA_HOME
  return 0
}
