#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# The JVM consumer of Tributary's interoperability tests (tests/jvm: the Apache Kafka Java
# client and Apache Avro reading our events topics, applying the version rule).
#
# Run it:     TRIBUTARY_JVM_CONSUMER="$(scripts/jvm-consumer.sh)"
#   Progress goes to stderr; the only line on stdout (so also the last one) is the launcher to
#   run, e.g. /root/.cache/tributary/jvm-consumer/bin/jvm-consumer (`--help` says how).
#
# Maven builds it into $TRIBUTARY_CACHE/jvm-consumer/build (a runnable jar and lib/), resolving
# into the repository $TRIBUTARY_CACHE/m2 that scripts/kafka.sh uses too. The build is reused
# as long as tests/jvm (pom.xml and sources), this script and the JDK are unchanged (a sha256
# stamp records them); otherwise it is rebuilt. A JDK 17+ and Maven are installed from
# Debian's packages if missing.

_tributary_jvm_consumer() {
  set -euo pipefail
  LOG_TAG=jvm-consumer
  # shellcheck source=lib.sh
  . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

  local project="$TRIBUTARY_ROOT/tests/jvm"
  local home="${TRIBUTARY_JVM_CONSUMER_HOME:-$TRIBUTARY_CACHE/jvm-consumer}"
  local m2="${TRIBUTARY_M2_REPO:-$TRIBUTARY_CACHE/m2}"
  local build="$home/build"
  local jar="$build/tributary-jvm-consumer.jar"
  local launcher="$home/bin/jvm-consumer"
  local stamp="$home/.tributary-build.sha256"

  [[ -f "$project/pom.xml" ]] || die "missing $project/pom.xml"
  if ! have java || ! have javac; then
    log "no JDK found (java and javac): installing openjdk-17-jdk-headless from Debian's packages"
    apt_install openjdk-17-jdk-headless
  fi
  have mvn || apt_install maven
  local javac_version major
  javac_version="$(javac -version 2>&1 | tail -n 1)"
  major="$(sed -E 's/^javac ([0-9]+).*/\1/' <<<"$javac_version")"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "the JDK is too old ($javac_version): the JVM consumer needs Java 17 or later"
  fi
  local java="${JAVA_HOME:+$JAVA_HOME/bin/java}"
  java="${java:-$(command -v java)}"

  local want
  want="$({
    (cd "$project" && find pom.xml src -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1
    "$java" -version 2>&1
    printf '%s\n' "$javac_version" "$java"
  } | sha256sum | cut -d' ' -f1)"

  mkdir -p "$home/bin"
  # One build at a time; a second caller waits and then reuses the first one's.
  exec 8>"$home/.lock"
  flock -w 600 8 || die "timed out waiting for $home/.lock"

  if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$jar" && -x "$launcher" ]]; then
    log "reusing $jar (tests/jvm unchanged)"
  else
    if [[ -f "$jar" ]]; then
      log "tests/jvm or the JDK changed: rebuilding $jar"
    else
      log "building $jar"
    fi
    rm -rf "$build" "$stamp"
    local cmd=(mvn -B -q -Dstyle.color=never "-Dmaven.repo.local=$m2" "-Djvm.build.dir=$build"
      -f "$project/pom.xml" package)
    local build_log="$home/build.log"
    log "\$ ${cmd[*]}"
    local started=$SECONDS
    if ! "${cmd[@]}" </dev/null >"$build_log" 2>&1; then
      printf -- '---- last 40 lines of %s ----\n' "$build_log" >&2
      tail -n 40 "$build_log" >&2 || true
      die "the Maven build of $project failed (log $build_log); is Maven Central reachable?"
    fi
    [[ -f "$jar" ]] || die "Maven succeeded but $jar is missing"
    {
      printf '#!/usr/bin/env bash\n'
      printf '# Written by scripts/jvm-consumer.sh: the JVM consumer of the interop tests (tests/jvm).\n'
      printf 'exec %q -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -jar %q "$@"\n' "$java" "$jar"
    } >"$launcher.tmp"
    chmod +x "$launcher.tmp"
    mv "$launcher.tmp" "$launcher"
    printf '%s\n' "$want" >"$stamp"
    log "built in $((SECONDS - started))s"
  fi
  local jars=("$build"/lib/kafka-clients-*.jar "$build"/lib/avro-*.jar)
  log "$("$java" -version 2>&1 | head -n 1); ${jars[*]##*/}"
  printf '%s\n' "$launcher"
}

_tributary_jvm_consumer
