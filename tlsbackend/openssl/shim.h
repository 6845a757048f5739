// Declarations of the C side of package openssl (shim.c).

#ifndef EDGE_OPENSSL_SHIM_H
#define EDGE_OPENSSL_SHIM_H

#include <stdint.h>
#include <stdlib.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/evp.h>
#include <openssl/crypto.h>

// edge_x509p is a certificate pointer, for arrays of them.
typedef X509 *edge_x509p;

// edge_ctx_setup installs the client hello and ALPN callbacks on ctx. alpn
// is the server's ALPN list in wire format (copied), alpn_len 0 meaning
// "no ALPN". 0 on failure.
int edge_ctx_setup(SSL_CTX *ctx, const unsigned char *alpn, size_t alpn_len);

// edge_ctx_options sets the fixed options (minimum and maximum version,
// buffers, tickets).
int edge_ctx_options(SSL_CTX *ctx, int min_version, int max_version, int tickets);

// edge_ssl_new makes an SSL with a memory BIO pair, in server mode, with
// handle as its app data.
SSL *edge_ssl_new(SSL_CTX *ctx, uintptr_t handle);

// edge_ssl_handle returns the handle given to edge_ssl_new.
uintptr_t edge_ssl_handle(SSL *ssl);

// edge_rbio and edge_wbio return the read and write memory BIOs.
BIO *edge_rbio(SSL *ssl);
BIO *edge_wbio(SSL *ssl);

// edge_bio_pending is BIO_ctrl_pending (a macro-free wrapper).
size_t edge_bio_pending(BIO *b);

// edge_bio_set_eof makes the read BIO report end of file when empty.
void edge_bio_set_eof(BIO *b);

// edge_group_id is the IANA id of the negotiated key exchange group, 0 if
// unknown.
int edge_group_id(SSL *ssl);

// edge_cipher_id is the IANA id of the negotiated cipher suite, 0 if none.
int edge_cipher_id(SSL *ssl);

// edge_d2i_x509 and edge_d2i_key parse DER (a certificate, a PKCS #8 key).
X509 *edge_d2i_x509(const unsigned char *der, long len);
EVP_PKEY *edge_d2i_key(const unsigned char *der, long len);

// edge_set1_groups_list wraps the SSL_CTX_set1_groups_list macro.
int edge_set1_groups_list(SSL_CTX *ctx, const char *list);

// edge_ext copies out a ClientHello extension: 1 and its bytes if present.
int edge_ext(SSL *ssl, unsigned int type, const unsigned char **out, size_t *outlen);

// edge_result is what one SSL operation ended with: SSL_get_error's code
// (0 on success) and the first errors of the queue, taken on the thread
// that ran the operation (the queue is per thread).
struct edge_result {
	int code;
	int nerr;
	unsigned long errs[8];
};

enum { EDGE_HANDSHAKE, EDGE_READ, EDGE_WRITE, EDGE_SHUTDOWN };

// edge_op runs one operation (EDGE_*) on ssl; buf, len and n are for read
// and write. It returns the operation's result (1 on success). EDGE_READ
// with no input buffered anywhere answers SSL_ERROR_WANT_READ without
// calling SSL_read.
int edge_op(SSL *ssl, int op, void *buf, size_t len, size_t *n, struct edge_result *r);

// edge_drain takes up to max errors off this thread's queue and clears it.
int edge_drain(unsigned long *errs, int max);

// edge_use_cert makes cert, key and the chain (n certificates) those of
// ssl. 0 on failure (errors queued).
int edge_use_cert(SSL *ssl, X509 *cert, EVP_PKEY *key, edge_x509p *chain, int n);

// edge_tickets_setup makes ctx encrypt session tickets with key (80
// bytes: name 16, HMAC 32, AES 32) and decrypt them with it or the
// previous key. 0 on failure.
int edge_tickets_setup(SSL_CTX *ctx, const unsigned char *key);

// edge_tickets_rotate makes key current and keeps the current one for
// decryption only.
void edge_tickets_rotate(SSL_CTX *ctx, const unsigned char *key);

#endif
