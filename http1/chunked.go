package http1

// Limits of the chunked decoder.
const (
	// MaxChunkLine is the longest chunk-size line accepted, chunk
	// extensions included and CRLF excluded.
	MaxChunkLine = 4096
	// MaxTrailerBytes is the largest trailer section accepted, the final
	// CRLF included.
	MaxTrailerBytes = 8192
	// maxChunkSize is the largest chunk size accepted.
	maxChunkSize = 1 << 62
)

// States of the chunked decoder. The zero state expects a chunk size.
const (
	csSizeStart     uint8 = iota // first hex digit of a chunk size
	csSize                       // more hex digits, ';', BWS or CR
	csSizeWS                     // BWS after the size, before ';'
	csExtNameStart               // BWS, then the first byte of an extension name
	csExtName                    // extension name
	csExtNameWS                  // BWS after a name, before '=' or ';'
	csExtValStart                // BWS, then a token or a quoted-string
	csExtToken                   // token value
	csExtQuoted                  // inside a quoted-string
	csExtQuotedEsc               // after a backslash in a quoted-string
	csExtAfterQuote              // right after the closing quote
	csExtValWS                   // BWS after a value, before ';'
	csSizeLF                     // LF ending the chunk-size line
	csData                       // chunk data
	csDataCR                     // CR after chunk data
	csDataLF                     // LF after chunk data
	csTrailerStart               // start of a trailer line or the final CRLF
	csTrailerName                // trailer field name
	csTrailerValue               // trailer field value
	csTrailerLF                  // LF ending a trailer line
	csEndLF                      // LF ending the trailer section
	csDone                       // the whole body has been decoded
	csError                      // a previous call failed
)

// ChunkedDecoder decodes a chunked message body (RFC 9112 section 7.1)
// incrementally and without copying. Chunk extensions are validated and
// ignored; the trailer section is validated and discarded.
//
// The zero value is ready to decode a body; Reset makes a used decoder
// ready again. A ChunkedDecoder is not safe for concurrent use.
//
// Typical usage, where buf holds the bytes received after the head:
//
//	var d http1.ChunkedDecoder
//	for {
//		data, n, done, err := d.Next(buf)
//		if err != nil {
//			// answer err.(*http1.Error).Status, then close
//		}
//		consume(data) // data aliases buf: valid until buf is modified
//		buf = buf[n:]
//		if done {
//			break // buf starts with the next pipelined request, if any
//		}
//		if n == 0 {
//			// buf is empty: read more into it
//		}
//	}
type ChunkedDecoder struct {
	state  uint8
	digits uint8  // hex digits of the current chunk size
	rem    uint64 // chunk size while reading it, then data bytes left
	count  int    // bytes of the current size line or of the trailer section
	err    *Error // the error once state is csError
}

// Reset makes d ready to decode a new body.
func (d *ChunkedDecoder) Reset() { *d = ChunkedDecoder{} }

// Done reports whether d has decoded the whole body.
func (d *ChunkedDecoder) Done() bool { return d.state == csDone }

// Next decodes from in. data is body bytes and aliases in; it may be empty
// even when n > 0. n bytes of in were consumed and must not be given again.
// done is true once the last chunk and the trailer section have been
// consumed; bytes after them (a pipelined request) are left unconsumed and
// later calls return done again without consuming anything.
//
// Next consumes framing bytes one at a time without needing to see a whole
// line, so n == 0 && !done && err == nil happens only when in is empty: the
// caller never has to buffer unconsumed input to make progress. An error is
// an *Error with Status 400; it is sticky until Reset. Next never allocates.
//
// Framing may be up to MaxChunkLine bytes per data byte, so a server bounds
// a body by the bytes consumed (the sum of n), or by time, and not only by
// the length of the data.
func (d *ChunkedDecoder) Next(in []byte) (data []byte, n int, done bool, err error) {
	switch d.state {
	case csDone:
		return nil, 0, true, nil
	case csError:
		return nil, 0, false, d.err
	}
	i := 0
	for i < len(in) {
		if d.state == csData {
			k := len(in) - i
			if uint64(k) >= d.rem {
				k = int(d.rem)
				d.state = csDataCR
			}
			d.rem -= uint64(k)
			return in[i : i+k], i + k, false, nil
		}
		c := in[i]
		i++
		if e := d.step(c); e != nil {
			d.state, d.err = csError, e
			return nil, 0, false, e
		}
		if d.state == csDone {
			return nil, i, true, nil
		}
	}
	return nil, i, false, nil
}

// step advances d over one framing byte.
func (d *ChunkedDecoder) step(c byte) *Error {
	if d.state < csSizeLF {
		// All of these states are inside the chunk-size line.
		if d.count++; d.count > MaxChunkLine && c != '\r' {
			return errChunkLine
		}
		if c == '\n' {
			return errChunkBareLF
		}
	} else if d.state >= csTrailerStart {
		if d.count++; d.count > MaxTrailerBytes {
			return errTrailerTooBig
		}
	}
	switch d.state {
	case csSizeStart, csSize:
		if ctype[c]&cHex != 0 {
			if d.digits++; d.digits > 16 || d.rem > maxChunkSize>>4 {
				return errChunkSizeLarge
			}
			d.rem = d.rem<<4 | uint64(unhex(c))
			if d.rem > maxChunkSize {
				return errChunkSizeLarge
			}
			d.state = csSize
			return nil
		}
		if d.state == csSizeStart {
			return errChunkSize
		}
		switch c {
		case ';':
			d.state = csExtNameStart
		case ' ', '\t':
			d.state = csSizeWS
		case '\r':
			d.state = csSizeLF
		default:
			return errChunkSize
		}
	case csSizeWS:
		switch c {
		case ' ', '\t':
		case ';':
			d.state = csExtNameStart
		default:
			return errChunkExt
		}
	case csExtNameStart:
		switch {
		case c == ' ' || c == '\t':
		case ctype[c]&cTchar != 0:
			d.state = csExtName
		default:
			return errChunkExt
		}
	case csExtName:
		switch {
		case ctype[c]&cTchar != 0:
		case c == ' ' || c == '\t':
			d.state = csExtNameWS
		case c == '=':
			d.state = csExtValStart
		case c == ';':
			d.state = csExtNameStart
		case c == '\r':
			d.state = csSizeLF
		default:
			return errChunkExt
		}
	case csExtNameWS:
		switch c {
		case ' ', '\t':
		case '=':
			d.state = csExtValStart
		case ';':
			d.state = csExtNameStart
		default:
			return errChunkExt
		}
	case csExtValStart:
		switch {
		case c == ' ' || c == '\t':
		case c == '"':
			d.state = csExtQuoted
		case ctype[c]&cTchar != 0:
			d.state = csExtToken
		default:
			return errChunkExt
		}
	case csExtToken:
		switch {
		case ctype[c]&cTchar != 0:
		case c == ' ' || c == '\t':
			d.state = csExtValWS
		case c == ';':
			d.state = csExtNameStart
		case c == '\r':
			d.state = csSizeLF
		default:
			return errChunkExt
		}
	case csExtQuoted:
		switch {
		case c == '"':
			d.state = csExtAfterQuote
		case c == '\\':
			d.state = csExtQuotedEsc
		case ctype[c]&cValue == 0:
			return errChunkExt // qdtext: HTAB, SP, VCHAR but '"' and '\\', obs-text
		}
	case csExtQuotedEsc:
		if ctype[c]&cValue == 0 {
			return errChunkExt
		}
		d.state = csExtQuoted
	case csExtAfterQuote:
		switch c {
		case ' ', '\t':
			d.state = csExtValWS
		case ';':
			d.state = csExtNameStart
		case '\r':
			d.state = csSizeLF
		default:
			return errChunkExt
		}
	case csExtValWS:
		switch c {
		case ' ', '\t':
		case ';':
			d.state = csExtNameStart
		default:
			return errChunkExt
		}
	case csSizeLF:
		if c != '\n' {
			return errChunkBareCR
		}
		d.count, d.digits = 0, 0
		if d.rem == 0 {
			d.state = csTrailerStart
		} else {
			d.state = csData
		}
	case csDataCR:
		if c != '\r' {
			return errChunkCRLF
		}
		d.state = csDataLF
	case csDataLF:
		if c != '\n' {
			return errChunkCRLF
		}
		d.state = csSizeStart
	case csTrailerStart:
		switch {
		case c == '\r':
			d.state = csEndLF
		case ctype[c]&cTchar != 0:
			d.state = csTrailerName
		case c == '\n':
			return errChunkBareLF
		default:
			return errTrailerField // obs-fold, empty or invalid name
		}
	case csTrailerName:
		switch {
		case ctype[c]&cTchar != 0:
		case c == ':':
			d.state = csTrailerValue
		default:
			return errTrailerField
		}
	case csTrailerValue:
		switch {
		case ctype[c]&cValue != 0:
		case c == '\r':
			d.state = csTrailerLF
		case c == '\n':
			return errChunkBareLF
		default:
			return errTrailerField
		}
	case csTrailerLF:
		if c != '\n' {
			return errChunkBareCR
		}
		d.state = csTrailerStart
	case csEndLF:
		if c != '\n' {
			return errChunkBareCR
		}
		d.state = csDone
	}
	return nil
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
