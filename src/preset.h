/*
 * preset.h - the built-in flow presets (docs/PRESETS.md): ready-made field choices
 * for the common Beats and APM data, so that a flow can say
 * `preset: nginx-access` instead of spelling out its conditions and fields.
 *
 * A preset is written as the YAML of the flow keys it fills in (where, from,
 * to, warning, danger, count, count_missing, danger_count, latency,
 * timestamp, danger_label, warning_label), in the
 * very syntax a user would write. config.c parses that text with the same
 * code as the user's flow and then fills in every key the user did not
 * write; so a preset can never mean something a configuration could not say,
 * and docs/PRESETS.md can quote the text as it is.
 *
 * Calling sequence: preset_find(name) while loading a flow; preset_names()
 * for the "expected one of ..." part of an error. The table is static and
 * immutable: nothing to free, safe from any thread.
 */
#ifndef VIZ_PRESET_H
#define VIZ_PRESET_H

#include <stddef.h>

typedef struct {
    const char *name; /* e.g. "nginx-access" */
    const char *yaml; /* a YAML mapping of flow keys */
    /* The index pattern(s) an elasticsearch or replay flow reads when it
     * writes no `index`: where Beats (or APM Server, EDOT) write this data
     * and where the Elastic Agent integration's data stream is. */
    const char *index;
} flow_preset;

/* NULL when no preset has that name. */
const flow_preset *preset_find(const char *name);
/* The i-th preset (0 <= i < preset_count()), in documentation order. */
size_t preset_count(void);
const flow_preset *preset_at(size_t i);
/* "nginx-access, apache-access, ...", for error messages. */
const char *preset_names(void);

#endif
