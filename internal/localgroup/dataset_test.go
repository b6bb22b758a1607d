package localgroup

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/tandem-db/tandem/internal/dataset"
)

func TestLoadVectors(t *testing.T) {
	v, src, err := LoadVectors("random", "", 100, 16)
	if err != nil || v.N() != 100 || v.Dim != 16 || src.Name != "random" || src.Path != "" {
		t.Fatalf("random: %v %v %v", v.N(), src, err)
	}
	dir := t.TempDir()
	fv := filepath.Join(dir, "x.fvecs")
	if err := dataset.WriteFvecs(fv, dataset.Random(7, 4, 3)); err != nil {
		t.Fatal(err)
	}
	v, src, err = LoadVectors(fv, "", 5, 0)
	if err != nil || v.N() != 5 || v.Dim != 4 || src.Path != fv {
		t.Fatalf("fvecs: %v %v %v", v, src, err)
	}
	if _, _, err := LoadVectors(filepath.Join(dir, "nope"), "", 0, 0); err == nil {
		t.Fatal("a missing file loaded")
	}
	// auto: Fashion-MNIST when installed or in dir, else random.
	os.WriteFile(filepath.Join(dir, "base.fvecs"), mustRead(t, fv), 0o644)
	v, src, err = LoadVectors("auto", dir, 3, 0)
	if err != nil || v.N() != 3 {
		t.Fatalf("auto: %v %v", src, err)
	}
	if _, err := os.Stat(filepath.Join(dataset.FashionMNISTDir, "train-images-idx3-ubyte.gz")); err == nil {
		if src.Name != "fashion-mnist" || v.Dim != 784 {
			t.Fatalf("auto with the Debian package installed: %v dim %d", src, v.Dim)
		}
	} else if src.Path != filepath.Join(dir, "base.fvecs") {
		t.Fatalf("auto without the Debian package: %v", src)
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
