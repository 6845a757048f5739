package http1

// Every *Error the package returns is one of these package-level values, so
// that no path, including the error paths, allocates. Callers compare Status,
// not identity; the tests compare identity to pin the exact reason.
var (
	// Request line.
	errRequestLine   = &Error{400, "malformed request line"}
	errMethod        = &Error{400, "invalid method"}
	errUnknownMethod = &Error{501, "method not implemented"}
	errTargetForm    = &Error{400, "request target is not in origin-form"}
	errTarget        = &Error{400, "invalid byte in request target"}
	errPercent       = &Error{400, "invalid percent-encoding in request target"}
	errVersion       = &Error{400, "malformed HTTP version"}
	errVersionNotSup = &Error{505, "HTTP version not supported"}
	errLineTooLong   = &Error{414, "request line too long"}

	// Line endings and framing of the header section.
	errBareLF        = &Error{400, "bare LF in request head"}
	errBareCR        = &Error{400, "bare CR in request head"}
	errObsFold       = &Error{400, "obsolete line folding or leading whitespace"}
	errSpaceColon    = &Error{400, "whitespace between field name and colon"}
	errFieldName     = &Error{400, "invalid field name"}
	errNoColon       = &Error{400, "field line without colon"}
	errFieldValue    = &Error{400, "invalid byte in field value"}
	errHeadersTooBig = &Error{431, "header section too large"}
	errTooManyFields = &Error{431, "too many header fields"}

	// Fields the protocol itself interprets.
	errNoHost        = &Error{400, "missing Host header"}
	errDupHost       = &Error{400, "more than one Host header"}
	errHost          = &Error{400, "invalid Host header"}
	errContentLength = &Error{400, "invalid Content-Length"}
	errDupCL         = &Error{400, "more than one Content-Length header"}
	errCLAndTE       = &Error{400, "both Content-Length and Transfer-Encoding"}
	errTE            = &Error{400, "malformed Transfer-Encoding"}
	errTENotFinal    = &Error{400, "chunked is not the final transfer coding"}
	errDupTE         = &Error{400, "more than one Transfer-Encoding header"}
	errTEHTTP10      = &Error{400, "Transfer-Encoding in an HTTP/1.0 request"}
	errTEUnsupported = &Error{501, "transfer coding not implemented"}
	errExpect        = &Error{417, "unsupported expectation"}

	// Chunked bodies (RFC 9112 section 7.1).
	errChunkSize      = &Error{400, "invalid chunk size"}
	errChunkSizeLarge = &Error{400, "chunk size too large"}
	errChunkExt       = &Error{400, "malformed chunk extension"}
	errChunkLine      = &Error{400, "chunk size line too long"}
	errChunkCRLF      = &Error{400, "missing CRLF after chunk data"}
	errChunkBareLF    = &Error{400, "bare LF in chunked body"}
	errChunkBareCR    = &Error{400, "bare CR in chunked body"}
	errTrailerTooBig  = &Error{400, "trailer section too large"}
	errTrailerField   = &Error{400, "invalid trailer field"}
)

// Errors the parser never returns but a server built on it needs; they are
// here so that answering them with AppendError does not allocate either.
var (
	// ErrMethodNotAllowed (405) is for a known method the server does not
	// serve, such as POST when POST is disabled. AppendError adds
	// "Allow: GET, HEAD" to it.
	ErrMethodNotAllowed = &Error{405, "method not allowed"}
	// ErrContentTooLarge (413) is for a body over the server's size limit.
	ErrContentTooLarge = &Error{413, "content too large"}
	// ErrRequestTimeout (408) is for a request head or body that did not
	// arrive in time.
	ErrRequestTimeout = &Error{408, "request timeout"}
)
