/*
 * topology_config.h - one entry of the configuration's `topology:` list
 * (README.md, "Configuration"): what a raw endpoint value matching `match` is
 * named and where it lives.
 *
 * Filled and owned by the configuration (config.h includes this header; its
 * strings are malloc'd there and never NULL); compiled by topology_new()
 * (topology.h), which includes this header alone rather than the whole
 * configuration.
 */
#ifndef VIZ_TOPOLOGY_CONFIG_H
#define VIZ_TOPOLOGY_CONFIG_H

typedef struct {
    char *match;   /* as written: CIDR, IP, name, or /regex/ */
    char *service; /* "" = keep the endpoint's own name; may hold \1..\9 */
    char *region;  /* "" = do not set */
    int line;      /* where its match was written, for messages */
    int column;    /* 0 when unknown */
} topology_entry;

#endif
