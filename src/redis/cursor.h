/* cursor: the one owner of the list cursors' format. To clients a cursor is
 * opaque: at most BACKEND_CURSOR_MAX base64url characters (backend.h). Inside,
 * a node's cursor is base64url("<SCAN cursor>/<last name returned>"); in
 * Redlock mode the walk's cursor is "<node digit><skipped-nodes mask, 2
 * base64url chars><that node's cursor>"; in Redis Cluster mode it is
 * "C<a slot of the master being walked, 3 base64url chars><that master's
 * cursor>" (no node cursor starts with 'C': a SCAN cursor's first digit
 * encodes to 'M' or 'N'). Pure string work. */
#ifndef DLOCKD_REDIS_CURSOR_H
#define DLOCKD_REDIS_CURSOR_H

#include <stdbool.h>

#include "locks/backend.h"

/* A node's cursor for resuming SCAN at scan_cursor after after_name ("" for none). */
void cursor_node_encode(const char *scan_cursor, const char *after_name, char out[BACKEND_CURSOR_MAX + 1]);
/* Splits a node cursor we issued into its SCAN cursor and resume-after name;
 * false if it is not one. */
bool cursor_node_decode(const char *cursor, char scan[24], char after[LOCK_NAME_MAX + 1]);

/* A Redlock walk's cursor: on node `node`, nodes in mask `skipped` passed
 * while down, resuming at that node's cursor `inner` ("" for its start). */
void cursor_walk_encode(char out[BACKEND_CURSOR_MAX + 1], unsigned node, unsigned skipped, const char *inner);
/* Parses a walk cursor for n nodes; *inner points into cursor. */
bool cursor_walk_decode(const char *cursor, unsigned n, unsigned *node, unsigned *skipped, const char **inner);

/* A cluster walk's cursor: on the master that serves `slot` (0..16383),
 * resuming at that master's cursor `inner` ("" for its start). */
void cursor_cluster_encode(char out[BACKEND_CURSOR_MAX + 1], unsigned slot, const char *inner);
/* Parses a cluster walk cursor; *inner points into cursor and is "" or a
 * node cursor (cursor_node_decode() accepts it). */
bool cursor_cluster_decode(const char *cursor, unsigned *slot, const char **inner);

#endif
