/*
 * main.c - the command line (README.md, "Running it"): options, and the commands check,
 * once, query, pull and init; without a command, the daemon (daemon.c),
 * given a loader that applies the command-line overrides to every
 * (re)loaded configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "bounds.h"
#include "config.h"
#include "daemon.h"
#include "es_query.h"
#include "log.h"
#include "metrics.h"
#include "pull.h"
#include "refresh.h"
#include "sink.h"
#include "topology.h"
#include "init.h"
#include "timeline.h"

#define EXIT_RUNTIME 1
#define EXIT_USAGE   2

static const char usage_text[] =
    "usage: vizfeed [-c FILE] [--listen ADDR] [--demo] [-v|-q] [--log-format text|json]\n"
    "       vizfeed once [-c FILE] [--demo] [--at TIME] [-o FILE]\n"
    "       vizfeed check [-c FILE]\n"
    "       vizfeed query [-c FILE] [--at TIME]\n"
    "       vizfeed timeline [-c FILE] [--demo] [--from T] [--to T] [--step D] [--region R]\n"
    "       vizfeed pull URL -o FILE [--interval 10s]\n"
    "       vizfeed init --es URL [auth options] [--at TIME]   (see vizfeed init --help)\n"
    "       vizfeed --help | --version\n"
    "\n"
    "Turns Elastic Beats and APM traffic into a live Netflix Vizceral graph.\n"
    "\n"
    "  (no command)  run the daemon: refresh every interval, serve /vizceral.json\n"
    "  once          one refresh; print the graph (or write FILE with -o); exit\n"
    "  check         validate the configuration; print the resolved flows\n"
    "  query         print the Elasticsearch requests a refresh (and a timeline) would send\n"
    "  timeline      print requests/s and error share per step (default: the last 6h)\n"
    "  pull          keep FILE an atomically replaced copy of URL (a feeder's graph)\n"
    "  init          print a starting configuration for what a cluster holds\n"
    "\n"
    "  -c, --config FILE    configuration file (default ./vizfeed.yml)\n"
    "      --listen ADDR    HTTP address, overrides `listen` (port 0 = any free port)\n"
    "      --demo           use the built-in demo fleet; no configuration file needed\n"
    "      --at TIME        window end for `once`, `query`: RFC 3339, epoch ms or -15m;\n"
    "                       rounded down to a multiple of the refresh interval\n"
    "      --from/--to T    `timeline`: its range (default now - 6h to now)\n"
    "      --step D         `timeline`: one point per D (default the interval, longer past 1440 points)\n"
    "      --region R       `timeline`: that region's services instead of the regions\n"
    "      --record DIR     store every Elasticsearch request and answer under DIR\n"
    "  -o, --output FILE    `once`, `pull`: write the graph to FILE atomically\n"
    "      --interval D     `pull`: poll every D (default 10s; backs off on errors)\n"
    "  -v, --verbose        log debug messages      -q, --quiet   log warnings and errors only\n"
    "      --log-format F   text (default) or json\n"
    "  -h, --help           this help               --version     print the version\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage or configuration error.\n"
    "Signals: SIGTERM/SIGINT stop gracefully; SIGHUP reloads the configuration.\n";

typedef struct {
    const char *command; /* NULL = daemon, or one of commands[] */
    const char *config_path;
    const char *listen;
    const char *at;
    const char *output;
    const char *record_dir;
    bool demo;
    log_level level;
    bool json_logs;
    const char *url;     /* `pull` */
    int64_t interval_ms; /* `pull` */

    const char *from, *to, *step, *region; /* `timeline` */
} options;

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...) {
    char message[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof message, fmt, ap); /* may quote an argument: escaped by log_plain() */
    va_end(ap);
    log_plain("%s", message);
    fputs("Try 'vizfeed --help'.\n", stderr);
    return EXIT_USAGE;
}

/* `pull URL -o FILE`: the URL is the one positional argument (getopt_long
 * moved it after the options). Returns -1 to go on, or an exit code. */
static int check_pull_options(int argc, char **argv, options *o) {
    if (optind >= argc) return usage_error("pull needs the URL of a feeder's /vizceral.json");
    o->url = argv[optind++];
    if (strncasecmp(o->url, "http://", 7) != 0 && strncasecmp(o->url, "https://", 8) != 0)
        return usage_error("pull: the URL must start with http:// or https://, not '%s'", o->url);
    if (!o->output) return usage_error("pull needs -o FILE");
    return -1;
}

/* Returns -1 to go on, or an exit code. */
static int parse_options(int argc, char **argv, options *o) {
    enum { OPT_LISTEN = 256, OPT_DEMO, OPT_AT, OPT_VERSION, OPT_LOG_FORMAT, OPT_INTERVAL, OPT_RECORD };
    enum { OPT_FROM = 512, OPT_TO, OPT_STEP, OPT_REGION }; /* `timeline` */
    static const char *const commands[] = {"once", "check", "query", "pull", "timeline"};
    static const struct option table[] = {{"config", required_argument, NULL, 'c'},
                                          {"listen", required_argument, NULL, OPT_LISTEN},
                                          {"demo", no_argument, NULL, OPT_DEMO},
                                          {"at", required_argument, NULL, OPT_AT},
                                          {"output", required_argument, NULL, 'o'},
                                          {"verbose", no_argument, NULL, 'v'},
                                          {"quiet", no_argument, NULL, 'q'},
                                          {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
                                          {"help", no_argument, NULL, 'h'},
                                          {"version", no_argument, NULL, OPT_VERSION},
                                          {"interval", required_argument, NULL, OPT_INTERVAL},
                                          {"record", required_argument, NULL, OPT_RECORD},
                                          {"from", required_argument, NULL, OPT_FROM},
                                          {"to", required_argument, NULL, OPT_TO},
                                          {"step", required_argument, NULL, OPT_STEP},
                                          {"region", required_argument, NULL, OPT_REGION},
                                          {NULL, 0, NULL, 0}};
    memset(o, 0, sizeof *o);
    o->config_path = "vizfeed.yml";
    o->level = LOG_LEVEL_INFO;
    o->interval_ms = -1;
    if (argc > 1 && argv[1][0] != '-') {
        o->command = argv[1];
        bool known = false;
        for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) known |= util_str_eq(o->command, commands[i]);
        if (!known) return usage_error("unknown command '%s'", o->command);
        argv++;
        argc--;
    }
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":c:o:vqh", table, NULL)) != -1) {
        switch (c) {
        case 'c':
            o->config_path = optarg;
            break;
        case OPT_LISTEN:
            o->listen = optarg;
            break;
        case OPT_DEMO:
            o->demo = true;
            break;
        case OPT_AT:
            o->at = optarg;
            break;
        case OPT_RECORD:
            o->record_dir = optarg;
            break;
        case OPT_FROM:
            o->from = optarg;
            break;
        case OPT_TO:
            o->to = optarg;
            break;
        case OPT_STEP:
            o->step = optarg;
            break;
        case OPT_REGION:
            o->region = optarg;
            break;
        case 'o':
            o->output = optarg;
            break;
        case 'v':
            o->level = LOG_LEVEL_DEBUG;
            break;
        case 'q':
            o->level = LOG_LEVEL_WARN;
            break;
        case OPT_LOG_FORMAT:
            if (strcmp(optarg, "json") == 0)
                o->json_logs = true;
            else if (strcmp(optarg, "text") != 0)
                return usage_error("--log-format takes text or json, not '%s'", optarg);
            break;
        case 'h':
            fputs(usage_text, stdout);
            return 0;
        case OPT_VERSION:
            printf("vizfeed %s\n", VIZFEED_VERSION);
            return 0;
        case OPT_INTERVAL: {
            char err[ERR_LEN];
            if (util_parse_duration_ms(optarg, &o->interval_ms, err) < 0 || o->interval_ms <= 0)
                return usage_error("--interval takes a positive duration such as 500ms or 10s, not '%s'", optarg);
            break;
        }
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (util_str_eq(o->command, "pull")) {
        int rc = check_pull_options(argc, argv, o);
        if (rc >= 0) return rc;
    }
    if (optind < argc) return usage_error("unexpected argument '%s'", argv[optind]);
    if (o->at && !util_str_eq(o->command, "once") && !util_str_eq(o->command, "query"))
        return usage_error("%s goes with the `once` or `query` command", "--at");
    if (o->record_dir && o->command && !util_str_eq(o->command, "once") && !util_str_eq(o->command, "timeline"))
        return usage_error("%s goes with the daemon or the `once` or `timeline` command", "--record");
    if (o->output && !util_str_eq(o->command, "once") && !util_str_eq(o->command, "pull"))
        return usage_error("%s goes with the `once` or `pull` command", "-o");
    const char *range = o->from ? "--from" : o->to ? "--to" : o->step ? "--step" : o->region ? "--region" : NULL;
    if (range && !util_str_eq(o->command, "timeline")) return usage_error("%s goes with the `timeline` command", range);
    if (o->interval_ms >= 0 && !util_str_eq(o->command, "pull"))
        return usage_error("%s goes with the `pull` command", "--interval");
    return -1;
}

/* Loads and fully validates the configuration (topology included), the way
 * every command and a reload do. NULL with the reason in err. */
static vizfeed_config *load_config(const options *o, char *err) {
    vizfeed_config *cfg = o->demo ? cfg_demo() : cfg_load(o->config_path, err);
    if (!cfg) return NULL;
    topology *t = topology_new(cfg->topology, cfg->ntopology, cfg->path, err);
    if (!t) {
        cfg_free(cfg);
        return NULL;
    }
    topology_free(t);
    /* `query` only prints: it may run where the CA file of production is not. */
    if (!util_str_eq(o->command, "query") && cfg_check_files(cfg, err) < 0) {
        cfg_free(cfg);
        return NULL;
    }
    if (o->listen) {
        free(cfg->listen);
        cfg->listen = xstrdup(o->listen);
        cfg->listen_line = 0; /* its errors name --listen */
    }
    /* Only what listens checks where: `once` may run elsewhere than the daemon. */
    if ((!o->command || util_str_eq(o->command, "check")) && cfg_check_listen(cfg, err) < 0) {
        cfg_free(cfg);
        return NULL;
    }
    if (o->record_dir) {
        free(cfg->record_dir);
        cfg->record_dir = xstrdup(o->record_dir);
    }
    return cfg;
}

/* load_config() for a command: NULL after saying why (the exit is then
 * EXIT_USAGE, as for any configuration error). */
static vizfeed_config *load_or_say(const options *o) {
    char err[ERR_LEN];
    vizfeed_config *cfg = load_config(o, err);
    if (!cfg) log_plain("%s", err);
    return cfg;
}

static int run_check(const options *o) {
    vizfeed_config *cfg = load_or_say(o);
    if (!cfg) return EXIT_USAGE;
    cfg_print(cfg, stdout);
    cfg_free(cfg);
    return 0;
}

/* The window end of `once` and `query`: --at T, or now - lag, rounded down
 * to the interval's grid as the daemon's windows and ?at= are (README.md,
 * "Windows on a grid"), so `once --at T` gives the bytes of ?at=T. */
static int window_end(const options *o, const vizfeed_config *cfg, int64_t *end_ms) {
    char err[ERR_LEN];
    int64_t now = util_now_ms(), t = now - cfg->lag_ms;
    if (o->at && util_parse_time_at_ms(o->at, now, &t, err) < 0) {
        log_plain("--at: %s", err);
        return -1;
    }
    if (t < 0) {
        log_plain("--at: %s is before 1970-01-01T00:00:00Z; a window ends at the epoch or later", o->at);
        return -1;
    }
    *end_ms = util_align_ms(t, cfg->interval_ms);
    return 0;
}

/* Writes a document and a newline to standard output and flushes it, so
 * that a full disk or a closed pipe is said rather than lost; -1 said. */
static int print_line(const char *data, size_t len, const char *what) {
    if (fwrite(data, 1, len, stdout) != len || fputc('\n', stdout) == EOF || fflush(stdout) != 0) {
        log_plain("writing %s to standard output: %s", what, strerror(errno));
        return -1;
    }
    return 0;
}

static int run_query(const options *o) {
    char err[ERR_LEN];
    vizfeed_config *cfg = load_or_say(o);
    if (!cfg) return EXIT_USAGE;
    int status = EXIT_USAGE;
    int64_t end_ms;
    buf out;
    buf_init(&out, VIZ_MAX_GRAPH_JSON);
    if (window_end(o, cfg, &end_ms) < 0) goto done;
    /* Then the timeline the page asks for by default: the 6 hours up to the window end. */
    int64_t tl_from = end_ms - TIMELINE_DEFAULT_SPAN_MS, tl_to = end_ms;
    int64_t tl_step = timeline_default_step(tl_from, tl_to, cfg->interval_ms);
    size_t tl_points;
    timeline_range(&tl_from, &tl_to, tl_step, &tl_points, err);
    if (es_query_print(cfg, end_ms, &out) < 0 || es_query_timeline_print(cfg, tl_from, tl_to, tl_step, &out) < 0) {
        log_plain("the requests are larger than %zu bytes", out.max);
        status = EXIT_RUNTIME;
        goto done;
    }
    /* The baseline window's requests too (refresh.h): a refresh sends them
     * once per BASELINE_EVERY refreshes, `once --at` every time. */
    int64_t base_start, base_end;
    if (out.len && refresher_baseline_window(cfg, end_ms, &base_start, &base_end)) {
        char when[40], from[40];
        graph_baseline_text(cfg->graph.baseline_ms, when, sizeof when);
        util_format_time_ms(base_start, from, sizeof from);
        buf_printf(&out, "\n# baseline (graph.baseline: %s): the window from %s\n", when, from);
        if (es_query_print(cfg, base_end, &out) < 0) {
            log_plain("the requests are larger than %zu bytes", out.max);
            status = EXIT_RUNTIME;
            goto done;
        }
    }
    if (out.len == 0) {
        log_plain("%s has no elasticsearch flow: nothing would be sent", cfg->path);
        status = EXIT_RUNTIME;
        goto done;
    }
    fwrite(out.data, 1, out.len, stdout);
    status = fflush(stdout) == 0 ? 0 : EXIT_RUNTIME;
done:
    buf_free(&out);
    cfg_free(cfg);
    return status;
}

static int run_once(const options *o) {
    char err[ERR_LEN];
    vizfeed_config *cfg = load_or_say(o);
    if (!cfg) return EXIT_USAGE;
    int64_t end_ms;
    if (window_end(o, cfg, &end_ms) < 0) {
        cfg_free(cfg);
        return EXIT_USAGE;
    }
    int status = EXIT_RUNTIME;
    snapshot *snap = NULL;
    sink *file = NULL;
    refresher *r = refresher_new(cfg, NULL, err);
    if (!r) {
        log_plain("%s", err);
        status = EXIT_USAGE; /* a source that cannot open: as the daemon says */
        goto done;
    }
    refresh_result res;
    snap = refresher_run(r, end_ms, &res, err);
    if (res.flows_failed) {
        for (size_t i = 0; i < cfg->nflows; i++)
            if (res.flow_error[i]) log_plain("flow '%s': %s", cfg->flows[i].name, res.flow_error[i]);
        goto done;
    }
    if (!snap) {
        log_plain("%s", err);
        goto done;
    }
    bool said = false, regex_said = false;
    daemon_log_clamped(&res, &said);
    daemon_log_regex_skipped(&res, &regex_said);
    daemon_log_refresh_done(&res, snap);
    if (o->output) {
        file = sink_file_new(o->output, err);
        if (!file) {
            log_plain("%s", err);
            goto done;
        }
        if (file->ops->publish(file, snap, err) < 0) {
            log_plain("file output failed: %s", err); /* as the daemon says it */
            goto done;
        }
    } else if (print_line(snap->json, snap->json_len, "the graph") < 0) {
        goto done;
    }
    status = 0;
done:
    if (file) file->ops->close(file);
    if (snap) snapshot_unref(snap);
    refresher_free(r);
    cfg_free(cfg);
    return status;
}

/* ---- timeline ---- */

/* `timeline`: the bytes timeline.h describes (those GET /timeline.json is to
 * serve) for the range, through a refresher of its own. */
static int run_timeline(const options *o) {
    char err[ERR_LEN];
    vizfeed_config *cfg = load_or_say(o);
    if (!cfg) return EXIT_USAGE;
    int status = EXIT_USAGE;
    refresher *r = NULL;
    char *json = NULL;
    int64_t to_ms = util_now_ms(), from_ms, step_ms;
    if (o->to && util_parse_time_ms(o->to, &to_ms, err) < 0) {
        log_plain("--to: %s", err);
        goto done;
    }
    from_ms = to_ms - TIMELINE_DEFAULT_SPAN_MS;
    if (o->from && util_parse_time_ms(o->from, &from_ms, err) < 0) {
        log_plain("--from: %s", err);
        goto done;
    }
    if (!o->step) {
        step_ms = timeline_default_step(from_ms, to_ms, cfg->interval_ms);
    } else if (util_parse_duration_ms(o->step, &step_ms, err) < 0 || step_ms <= 0) {
        log_plain("--step takes a positive duration such as 10s or 1m, not '%s'", o->step);
        goto done;
    }
    size_t points;
    int64_t from_check = from_ms, to_check = to_ms;
    if (timeline_range(&from_check, &to_check, step_ms, &points, err) < 0) {
        log_plain("%s", err);
        goto done;
    }
    r = refresher_new(cfg, NULL, err);
    if (!r) {
        log_plain("%s", err);
        goto done;
    }
    status = EXIT_RUNTIME;
    size_t len;
    json = timeline_json(r, from_ms, to_ms, step_ms, o->region, &len, err);
    if (!json) {
        log_plain("%s", err);
        goto done;
    }
    if (print_line(json, len, "the timeline") < 0) goto done;
    status = 0;
done:
    free(json);
    refresher_free(r);
    cfg_free(cfg);
    return status;
}

/* ---- pull ---- */

static volatile sig_atomic_t pull_stop; /* the signal that asked to stop, 0 until then */

static void on_pull_signal(int sig) {
    pull_stop = sig;
}

/* `pull` has no thread of its own to take signals synchronously, so a
 * handler sets the flag that pull_run() checks at least every
 * PULL_STOP_LATENCY_MS, between polls and during a request alike. Without
 * SA_RESTART a sleep ends at once. */
static int run_pull(const options *o) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_pull_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    pull_options po = {.url = o->url, .output = o->output, .interval_ms = o->interval_ms > 0 ? o->interval_ms : 10000};
    char err[ERR_LEN];
    if (pull_run(&po, &pull_stop, err) < 0) {
        log_error("%s", err);
        return EXIT_RUNTIME;
    }
    log_info("received %s, stopping", pull_stop == SIGINT ? "SIGINT" : "SIGTERM");
    return 0;
}

static vizfeed_config *load_for_daemon(void *ctx, char *err) {
    return load_config(ctx, err);
}

static int run_daemon(const options *o) {
    daemon_options d = {.config_path = o->config_path, .demo = o->demo, .load = load_for_daemon, .ctx = (void *)o};
    return daemon_run(&d);
}

int main(int argc, char **argv) {
    /* init has options of its own (the cluster and its credentials). */
    if (argc > 1 && util_str_eq(argv[1], "init")) return init_main(argc - 1, argv + 1);
    options o;
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    log_setup(o.level, o.json_logs);
    /* A closed peer or a file size limit (RLIMIT_FSIZE, systemd's
     * LimitFSIZE=) must fail the write and be reported, not kill vizfeed. */
    signal(SIGPIPE, SIG_IGN);
    signal(SIGXFSZ, SIG_IGN);
    metrics_declare_all();
    if (util_str_eq(o.command, "check")) return run_check(&o);
    if (util_str_eq(o.command, "once")) return run_once(&o);
    if (util_str_eq(o.command, "query")) return run_query(&o);
    if (util_str_eq(o.command, "pull")) return run_pull(&o);
    if (util_str_eq(o.command, "timeline")) return run_timeline(&o);
    return run_daemon(&o);
}
