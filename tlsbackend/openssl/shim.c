//go:build openssl

#include "shim.h"
#include "_cgo_export.h"
#include <pthread.h>
#include <string.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/params.h>

static int edge_client_hello_cb(SSL *ssl, int *al, void *arg) {
	(void)arg;
	return edgeOpenSSLClientHello(ssl, al);
}

static int edge_alpn_idx = -1;
static pthread_once_t edge_alpn_once = PTHREAD_ONCE_INIT;

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


// edge_tickets are a context's session ticket keys: keys[0] encrypts,
// both decrypt.
struct edge_tickets {
	pthread_mutex_t mu;
	int n;
	unsigned char keys[2][80]; // name 16, HMAC 32, AES 32
};

static void edge_tickets_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx, long argl, void *argp) {
	(void)parent; (void)ad; (void)idx; (void)argl; (void)argp;
	struct edge_tickets *t = ptr;
	if (t != NULL) {
		pthread_mutex_destroy(&t->mu);
		OPENSSL_cleanse(t->keys, sizeof t->keys);
		free(t);
	}
}

static int edge_tickets_idx = -1;

static void edge_alpn_init(void) {
	edge_alpn_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, edge_alpn_free);
	edge_tickets_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, edge_tickets_free);
}

// edge_ticket_key sets up the cipher (AES-256-CBC) and the MAC
// (HMAC-SHA256) of one key.
static int edge_ticket_key(const unsigned char *key, unsigned char *iv, EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc) {
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)(key + 16), 32),
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	if (!EVP_MAC_CTX_set_params(h, params)) {
		return 0;
	}
	if (enc) {
		return EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, key + 48, iv);
	}
	return EVP_DecryptInit_ex(c, EVP_aes_256_cbc(), NULL, key + 48, iv);
}

static int edge_ticket_cb(SSL *ssl, unsigned char name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
		EVP_CIPHER_CTX *c, EVP_MAC_CTX *h, int enc) {
	struct edge_tickets *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), edge_tickets_idx);
	if (t == NULL) {
		return -1;
	}
	int ret = 0;
	pthread_mutex_lock(&t->mu);
	if (enc) {
		memcpy(name, t->keys[0], 16);
		ret = RAND_bytes(iv, EVP_CIPHER_get_iv_length(EVP_aes_256_cbc())) > 0 &&
			edge_ticket_key(t->keys[0], iv, c, h, 1) ? 1 : -1;
	} else {
		for (int i = 0; i < t->n; i++) {
			if (memcmp(name, t->keys[i], 16) == 0) {
				// 2: valid, but issue a ticket under the current key.
				ret = edge_ticket_key(t->keys[i], iv, c, h, 0) ? (i == 0 ? 1 : 2) : -1;
				break;
			}
		}
	}
	pthread_mutex_unlock(&t->mu);
	return ret;
}

int edge_tickets_setup(SSL_CTX *ctx, const unsigned char *key) {
	pthread_once(&edge_alpn_once, edge_alpn_init);
	struct edge_tickets *t = calloc(1, sizeof *t);
	if (t == NULL) {
		return 0;
	}
	pthread_mutex_init(&t->mu, NULL);
	memcpy(t->keys[0], key, 80);
	t->n = 1;
	if (edge_tickets_idx < 0 || !SSL_CTX_set_ex_data(ctx, edge_tickets_idx, t)) {
		edge_tickets_free(NULL, t, NULL, 0, 0, NULL);
		return 0;
	}
	return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, edge_ticket_cb);
}

void edge_tickets_rotate(SSL_CTX *ctx, const unsigned char *key) {
	struct edge_tickets *t = SSL_CTX_get_ex_data(ctx, edge_tickets_idx);
	if (t == NULL) {
		return;
	}
	pthread_mutex_lock(&t->mu);
	memcpy(t->keys[1], t->keys[0], 80);
	memcpy(t->keys[0], key, 80);
	t->n = 2;
	pthread_mutex_unlock(&t->mu);
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
		if (BIO_ctrl_pending(SSL_get_rbio(ssl)) == 0 && !SSL_has_pending(ssl)) {
			// Nothing to read: answer as SSL_read would, without it setting
			// up (and, with SSL_MODE_RELEASE_BUFFERS, freeing again) its
			// 16.5 KiB record buffer on every poll of an idle connection.
			r->code = SSL_ERROR_WANT_READ;
			r->nerr = 0;
			return -1;
		}
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
