package aistat_test

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"aistat"
)

// FuzzMakeAvatar: whatever the bytes, MakeAvatar either refuses them as
// EINVALID naming the field, or makes two square JPEGs of the stored sizes;
// it never panics. The seeds are a picture of each kind it reads first:
// PNG, JPEG, and JPEG with an EXIF block whose offsets point anywhere.
func FuzzMakeAvatar(f *testing.F) {
	img := image.NewNRGBA(image.Rect(0, 0, 3, 2))
	img.Set(0, 0, color.NRGBA{R: 0xff, A: 0xff})
	var p, j bytes.Buffer
	if err := png.Encode(&p, img); err != nil {
		f.Fatal(err)
	}
	if err := jpeg.Encode(&j, img, nil); err != nil {
		f.Fatal(err)
	}
	f.Add(p.Bytes())
	f.Add(j.Bytes())
	for _, tiff := range []string{
		"MM\x00\x2a\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00",
		"II\x2a\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x08\x00\x00\x00\x00\x00\x00\x00",
		"II\x2a\x00\xff\xff\xff\xff",
		"MM\x00\x2a\x00\x00\x00\x08\xff\xff",
	} {
		payload := "Exif\x00\x00" + tiff
		segment := append([]byte{0xFF, 0xE1, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
		f.Add(append(append(append([]byte{}, j.Bytes()[:2]...), segment...), j.Bytes()[2:]...))
	}
	f.Add([]byte("\xff\xd8\xff\xe1\x00\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := aistat.MakeAvatar(data)
		if err != nil {
			if aistat.ErrorCode(err) != aistat.EINVALID || aistat.ErrorFields(err)["avatar"] == "" {
				t.Fatalf("error %v, want EINVALID naming avatar", err)
			}
			return
		}
		for _, pic := range []struct {
			data []byte
			size int
		}{{a.Large, aistat.AvatarSize}, {a.Small, aistat.AvatarSmallSize}} {
			cfg, err := jpeg.DecodeConfig(bytes.NewReader(pic.data))
			if err != nil || cfg.Width != pic.size || cfg.Height != pic.size {
				t.Fatalf("stored picture %v, %v; want a %d-pixel square JPEG", cfg, err, pic.size)
			}
		}
	})
}
