# Sourced into the benchmark scenarios (bench/run's and bench/instructions'): the tables
# every tool is measured on.

# generate SIZE: the same table two ways, /tmp/bSIZE.json (a config with SIZE forwards of 4
# backends) and /tmp/bSIZE.rules (ipvsadm -R input).
generate() {
    awk -v n="$1" -v cfg="/tmp/b$1.json" -v rules="/tmp/b$1.rules" 'BEGIN {
        printf "{\"public\":[{\"address\":\"203.0.113.10\"}],\"forwards\":[" > cfg
        for (i = 0; i < n; i++) {
            port = 10000 + i
            printf "%s{\"name\":\"f%d\",\"listen\":\"203.0.113.10:%d\",\"backends\":[\"10.2.0.1\",\"10.2.0.2\",\"10.2.0.3\",\"10.2.0.4\"]}", (i ? "," : ""), i, port > cfg
            printf "-A -t 203.0.113.10:%d -s wlc\n", port > rules
            for (b = 1; b <= 4; b++) printf "-a -t 203.0.113.10:%d -r 10.2.0.%d:%d -m -w 1\n", port, b, port > rules
        }
        printf "]}\n" > cfg
    }'
}
