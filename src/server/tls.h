/* tls: the server's certificate chain and private key for HTTPS (GnuTLS),
 * loaded at start and swapped by tls_reload() (SIGHUP). Handshakes take a
 * reference to the credentials current at that moment and keep it for the
 * life of their connection, so a reload never frees a key a handshake or a
 * connection still uses. One set per process, shared by every worker. It
 * knows nothing of HTTP or libmicrohttpd. */
#ifndef DLOCKD_TLS_H
#define DLOCKD_TLS_H

#include <stdbool.h>
#include <stddef.h>

/* TLS 1.3 and 1.2 only; AEAD ciphers with ECDHE (forward secrecy), no CBC,
 * no static-RSA key exchange. The server and --healthcheck use it. */
#define TLS_PRIORITIES                                                                                                 \
	"SECURE256:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-AES-256-CBC:-AES-128-CBC:-RSA:-DHE-RSA:-DHE-DSS:"   \
	"%SAFE_RENEGOTIATION"

struct tls_creds;

/* Where a connection keeps its reference to the credentials its handshake
 * used: the caller's lookup from a GnuTLS session's user pointer (for http,
 * libmicrohttpd's connection) and the session itself; NULL fails the
 * handshake. Called on the thread doing the handshake. */
typedef struct tls_creds **tls_slot_fn(void *session_ptr, const void *session);

/* Loads cert_file (PEM: the server certificate first, then any intermediate
 * certificates) and key_file (PEM, unencrypted), checks that the key belongs
 * to the certificate, and makes them current; remembers both paths for
 * tls_reload() and slot_of for tls_cert_callback(). Call once, before any
 * handshake. Returns false with a reason naming the file in err. */
bool tls_init(const char *cert_file, const char *key_file, tls_slot_fn *slot_of, char *err, size_t errlen);

/* Reads both files again and, if they load, makes them current for every
 * handshake from now on (connections already open keep theirs). If they do
 * not load, the current credentials stay and err says why. Thread-safe; the
 * files are read and parsed on the caller's thread, never on a worker's. */
bool tls_reload(char *err, size_t errlen);

/* Drops the current credentials (at exit, once no connection is open). */
void tls_shutdown(void);

/* The server's certificate callback, a gnutls_certificate_retrieve_function2
 * for libmicrohttpd's MHD_OPTION_HTTPS_CERT_CALLBACK: the first handshake of
 * a connection stores a reference to the current credentials in its slot
 * (see tls_slot_fn); later ones (a TLS 1.2 renegotiation) reuse it. */
void *tls_cert_callback(void);

/* Gives back a connection's reference (NULL is fine) when it closes; the
 * last reference frees the credentials. Thread-safe. */
void tls_creds_put(struct tls_creds *c);

/* gnutls_record_send() on session (a gnutls_session_t): n bytes of
 * application data, without blocking. Returns what GnuTLS returns. */
long tls_send(void *session, const void *buf, size_t n);

#endif
