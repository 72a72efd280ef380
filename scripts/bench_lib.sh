# Sourced by the benchmark scripts (scripts/bench*.sh), from the checkout's root: one lock, the
# build installed into the private PostgreSQL, and the lines every results file starts with.
. scripts/lock.sh
ROOT="$PWD"
bash scripts/install.sh

# bench_header TITLE COMMAND: the title of a results file, then the command and date and the
# machine, as every results file states them
bench_header() {
    echo "# $1"
    echo
    echo "Command: \`$2\`, $(date -u +%Y-%m-%d)."
    echo "Machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')."
}
