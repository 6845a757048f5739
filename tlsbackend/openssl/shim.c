//go:build openssl

#include "shim.h"
#include "_cgo_export.h"
#include <pthread.h>
#include <string.h>

static int edge_client_hello_cb(SSL *ssl, int *al, void *arg) {
	(void)arg;
	return edgeOpenSSLClientHello(ssl, al);
}

struct edge_alpn {
	const unsigned char *list;
	size_t len;
};

// edge_alpn_cb picks the first protocol of the server's list that the
// client offers (server preference). No overlap is a fatal
// no_application_protocol alert; a server without ALPN answers none.
static int edge_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		const unsigned char *in, unsigned int inlen, void *arg) {
	(void)ssl;
	struct edge_alpn *a = arg;
	if (a->len == 0) {
		return SSL_TLSEXT_ERR_NOACK;
	}
	for (size_t i = 0; i < a->len; ) {
		unsigned int sl = a->list[i];
		if (i + 1 + sl > a->len) {
			break;
		}
		for (unsigned int j = 0; j < inlen; ) {
			unsigned int cl = in[j];
			if (j + 1 + cl > inlen) {
				break;
			}
			if (cl == sl && memcmp(in + j + 1, a->list + i + 1, sl) == 0) {
				*out = a->list + i + 1;
				*outlen = (unsigned char)sl;
				return SSL_TLSEXT_ERR_OK;
			}
			j += 1 + cl;
		}
		i += 1 + sl;
	}
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void edge_alpn_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	free(ptr);
}

static int edge_alpn_idx = -1;
static pthread_once_t edge_alpn_once = PTHREAD_ONCE_INIT;

static void edge_alpn_init(void) {
	edge_alpn_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, edge_alpn_free);
}

int edge_ctx_setup(SSL_CTX *ctx, const unsigned char *alpn, size_t alpn_len) {
	pthread_once(&edge_alpn_once, edge_alpn_init);
	struct edge_alpn *a = malloc(sizeof *a + alpn_len);
	if (a == NULL) {
		return 0;
	}
	// The struct and its copy of the list live as long as ctx: freed with
	// its ex data.
	memcpy(a + 1, alpn, alpn_len);
	a->list = (const unsigned char *)(a + 1);
	a->len = alpn_len;
	if (edge_alpn_idx < 0 || !SSL_CTX_set_ex_data(ctx, edge_alpn_idx, a)) {
		free(a);
		return 0;
	}
	SSL_CTX_set_client_hello_cb(ctx, edge_client_hello_cb, NULL);
	SSL_CTX_set_alpn_select_cb(ctx, edge_alpn_cb, a);
	return 1;
}

int edge_ctx_options(SSL_CTX *ctx, int min_version, int max_version, int tickets) {
	if (!SSL_CTX_set_min_proto_version(ctx, min_version) || !SSL_CTX_set_max_proto_version(ctx, max_version)) {
		return 0;
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (!tickets) {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	return 1;
}

SSL *edge_ssl_new(SSL_CTX *ctx, uintptr_t handle) {
	SSL *ssl = SSL_new(ctx);
	if (ssl == NULL) {
		return NULL;
	}
	BIO *rb = BIO_new(BIO_s_mem()), *wb = BIO_new(BIO_s_mem());
	if (rb == NULL || wb == NULL) {
		BIO_free(rb);
		BIO_free(wb);
		SSL_free(ssl);
		return NULL;
	}
	BIO_set_mem_eof_return(rb, -1); // empty: retry, not end of file
	SSL_set_bio(ssl, rb, wb);
	SSL_set_accept_state(ssl);
	SSL_set_app_data(ssl, (void *)handle);
	return ssl;
}

uintptr_t edge_ssl_handle(SSL *ssl) { return (uintptr_t)SSL_get_app_data(ssl); }
BIO *edge_rbio(SSL *ssl) { return SSL_get_rbio(ssl); }
BIO *edge_wbio(SSL *ssl) { return SSL_get_wbio(ssl); }
size_t edge_bio_pending(BIO *b) { return BIO_ctrl_pending(b); }
void edge_bio_set_eof(BIO *b) { BIO_set_mem_eof_return(b, 0); }

int edge_group_id(SSL *ssl) {
	int nid = SSL_get_negotiated_group(ssl);
	if (nid & TLSEXT_nid_unknown) {
		return nid & 0xFFFF;
	}
	switch (nid) {
	case NID_X25519: return 29;
	case NID_X448: return 30;
	case NID_X9_62_prime256v1: return 23;
	case NID_secp384r1: return 24;
	case NID_secp521r1: return 25;
	}
	return 0;
}

int edge_cipher_id(SSL *ssl) {
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	return c == NULL ? 0 : SSL_CIPHER_get_protocol_id(c);
}

X509 *edge_d2i_x509(const unsigned char *der, long len) { return d2i_X509(NULL, &der, len); }
EVP_PKEY *edge_d2i_key(const unsigned char *der, long len) { return d2i_AutoPrivateKey(NULL, &der, len); }
int edge_set1_groups_list(SSL_CTX *ctx, const char *list) { return SSL_CTX_set1_groups_list(ctx, list); }

int edge_ext(SSL *ssl, unsigned int type, const unsigned char **out, size_t *outlen) {
	return SSL_client_hello_get0_ext(ssl, type, out, outlen);
}

int edge_drain(unsigned long *errs, int max) {
	int n = 0;
	unsigned long e;
	while ((e = ERR_get_error()) != 0) {
		if (n < max) {
			errs[n++] = e;
		}
	}
	return n;
}

int edge_op(SSL *ssl, int op, void *buf, size_t len, size_t *n, struct edge_result *r) {
	int ret;
	ERR_clear_error();
	switch (op) {
	case EDGE_HANDSHAKE:
		ret = SSL_do_handshake(ssl);
		break;
	case EDGE_READ:
		ret = SSL_read_ex(ssl, buf, len, n);
		break;
	case EDGE_WRITE:
		ret = SSL_write_ex(ssl, buf, len, n);
		break;
	default:
		ret = SSL_shutdown(ssl);
		if (ret == 0) {
			ret = 1; // close_notify sent, the peer's not received yet
		}
		break;
	}
	r->code = ret == 1 ? 0 : SSL_get_error(ssl, ret);
	r->nerr = edge_drain(r->errs, 8);
	return ret;
}

int edge_use_cert(SSL *ssl, X509 *cert, EVP_PKEY *key, edge_x509p *chain, int n) {
	if (SSL_use_certificate(ssl, cert) != 1 || SSL_use_PrivateKey(ssl, key) != 1) {
		return 0;
	}
	if (!SSL_clear_chain_certs(ssl)) {
		return 0;
	}
	for (int i = 0; i < n; i++) {
		if (!SSL_add1_chain_cert(ssl, chain[i])) {
			return 0;
		}
	}
	return 1;
}
