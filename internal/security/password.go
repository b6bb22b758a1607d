package security

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// passwordIterations is the PBKDF2-SHA256 cost of new hashes. Verified
// credentials are cached by the caller (the API), so the cost is paid
// once per user and password, not per request.
const passwordIterations = 20000

const hashScheme = "pbkdf2-sha256"

// HashPassword returns a salted hash of password:
// "pbkdf2-sha256$<iterations>$<salt b64>$<key b64>".
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	return hashWith(password, salt, passwordIterations)
}

func hashWith(password string, salt []byte, iter int) (string, error) {
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	enc := base64.RawStdEncoding
	return fmt.Sprintf("%s$%d$%s$%s", hashScheme, iter, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// CheckPassword reports whether password matches hash (HashPassword), in
// constant time for a given hash.
func CheckPassword(hash, password string) bool {
	parts := strings.Split(hash, "$")
	if len(parts) != 4 || parts[0] != hashScheme {
		return false
	}
	iter, err := strconv.Atoi(parts[1])
	if err != nil || iter < 1 || iter > 10_000_000 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[2])
	want, err2 := enc.DecodeString(parts[3])
	if err1 != nil || err2 != nil || len(want) != 32 {
		return false
	}
	key, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(key, want) == 1
}

// ReadSecretFile reads a secret (password, cluster secret) from path,
// without its trailing newline. The error never includes the content.
func ReadSecretFile(path string) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", fmt.Errorf("security: read secret file: %w", err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", fmt.Errorf("security: secret file %s is empty", path)
	}
	return s, nil
}

var readFile = os.ReadFile
