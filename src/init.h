/*
 * init.h - `vizfeed init --es URL [auth options] [--at TIME]`: looks at a
 * cluster and writes a starting configuration to stdout.
 *
 * It asks Elasticsearch three things, with the same client (auth, TLS,
 * timeouts) as an elasticsearch flow:
 *   1. GET /_resolve/index/ with the pattern `*` and expand_wildcards=open:
 *      the open data streams and the indices that are not a data stream's
 *      backing index (names starting with '.', hidden and system ones, are
 *      left out);
 *   2. for every preset whose default index patterns (preset.h) match some of
 *      them, GET /<patterns>/_field_caps for the fields the preset cannot do
 *      without (the callee's service and the timestamp);
 *   3. POST /<patterns>/_search with size 0 and track_total_hits: how many
 *      documents the preset's `where` keeps, ever and in the hour before now
 *      (or --at).
 * Every preset whose fields are mapped and whose `where` keeps at least one
 * document becomes a flow (a comment says which data streams and indices it
 * reads and how many documents the last hour held); every data stream or index
 * no proposed flow reads gets a comment "not mapped". Credentials given on the
 * command line are not written out: the configuration reads them from
 * environment variables instead.
 *
 * Errors: init_main() returns the process exit code: 0 with a configuration
 * printed, 1 when the cluster cannot be read (stdout then stops where it
 * was) or nothing was recognised (the comments are printed all the same),
 * 2 for a usage error. Messages go to stderr.
 */
#ifndef VIZ_INIT_H
#define VIZ_INIT_H

/* argv[0] is "init". */
int init_main(int argc, char **argv);

#endif
