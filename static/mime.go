package static

import (
	"mime"
	"strings"
)

// octetStream is the type of content whose type is unknown.
const octetStream = "application/octet-stream"

// types maps lower-case extensions (without the dot) to MIME types. Text
// types carry "; charset=utf-8" so that browsers do not guess.
var types = map[string]string{
	"html":  "text/html; charset=utf-8",
	"htm":   "text/html; charset=utf-8",
	"css":   "text/css; charset=utf-8",
	"js":    "text/javascript; charset=utf-8",
	"mjs":   "text/javascript; charset=utf-8",
	"json":  "application/json; charset=utf-8",
	"map":   "application/json; charset=utf-8", // source maps
	"svg":   "image/svg+xml; charset=utf-8",
	"xml":   "application/xml; charset=utf-8",
	"txt":   "text/plain; charset=utf-8",
	"md":    "text/markdown; charset=utf-8",
	"csv":   "text/csv; charset=utf-8",
	"png":   "image/png",
	"jpg":   "image/jpeg",
	"jpeg":  "image/jpeg",
	"gif":   "image/gif",
	"webp":  "image/webp",
	"avif":  "image/avif",
	"ico":   "image/vnd.microsoft.icon",
	"wasm":  "application/wasm",
	"woff":  "font/woff",
	"woff2": "font/woff2",
	"ttf":   "font/ttf",
	"otf":   "font/otf",
	"pdf":   "application/pdf",
	"zip":   "application/zip",
	"gz":    "application/gzip",
	"mp4":   "video/mp4",
	"webm":  "video/webm",
	"mp3":   "audio/mpeg",
	"ogg":   "audio/ogg",
	"wav":   "audio/wav",
}

// TypeByExtension returns the MIME type for the file extension ext, given
// with or without its leading dot ("html" or ".html") and in any case.
//
// The common web types come from a built-in table, identical on every
// system, with "; charset=utf-8" on text types. Other extensions fall back
// to [mime.TypeByExtension], which reads the system's tables. An empty or
// unknown ext gives "application/octet-stream".
func TypeByExtension(ext string) string {
	if t := typeByExtension(ext); t != "" {
		return t
	}
	return octetStream
}

// typeByExtension is TypeByExtension, returning "" for an unknown extension.
func typeByExtension(ext string) string {
	ext = strings.TrimPrefix(ext, ".")
	if ext == "" {
		return ""
	}
	if t, ok := types[ext]; ok {
		return t
	}
	lower := strings.ToLower(ext)
	if t, ok := types[lower]; ok {
		return t
	}
	return mime.TypeByExtension("." + lower)
}

// incompressible lists media types whose bodies are already compressed:
// compressing them again costs CPU and saves nothing.
var incompressible = map[string]bool{
	"image/png":                    true,
	"image/apng":                   true,
	"image/jpeg":                   true,
	"image/gif":                    true,
	"image/webp":                   true,
	"image/avif":                   true,
	"image/heic":                   true,
	"image/heif":                   true,
	"image/jxl":                    true,
	"font/woff":                    true,
	"font/woff2":                   true,
	"application/font-woff":        true,
	"application/zip":              true,
	"application/gzip":             true,
	"application/x-gzip":           true,
	"application/x-brotli":         true,
	"application/zstd":             true,
	"application/x-xz":             true,
	"application/x-bzip2":          true,
	"application/x-7z-compressed":  true,
	"application/x-rar-compressed": true,
	"application/vnd.rar":          true,
	"application/epub+zip":         true,
	"application/java-archive":     true,
}

// compressible reports whether content of type typ (a MIME type, possibly
// with parameters) may shrink when compressed. Audio and video are
// compressed already, except uncompressed PCM (WAV).
func compressible(typ string) bool {
	mt, _, _ := strings.Cut(typ, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case incompressible[mt]:
		return false
	case mt == "audio/wav", mt == "audio/x-wav", mt == "audio/wave":
		return true
	case strings.HasPrefix(mt, "video/"), strings.HasPrefix(mt, "audio/"):
		return false
	}
	return true
}
