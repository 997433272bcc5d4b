package aistat

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"strconv"
	"strings"
	"time"

	// The formats an avatar may be uploaded in register with image.Decode.
	_ "image/gif"
	_ "image/png"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp"
)

// The limits of an uploaded avatar, checked before anything is allocated
// for its pixels.
const (
	// MaxAvatarBytes bounds the uploaded file.
	MaxAvatarBytes = 10 << 20
	// MaxAvatarPixels bounds the picture's width times height, read from
	// its header before it is decoded: decoding takes 4 to 8 bytes a pixel.
	MaxAvatarPixels = 40_000_000
)

// The sizes an avatar is stored in, in pixels a side: the settings page's
// preview and the header's 32-pixel circle at up to twice its density.
const (
	AvatarSize      = 256
	AvatarSmallSize = 64
)

// AvatarGrace is how long a picture no user shows is kept. An upload that
// stores a picture another request is about to find unused marks it used
// again, so the cleanup never deletes one a user is about to show.
const AvatarGrace = time.Hour

// avatarQuality is the JPEG quality of the stored pictures: at 256 pixels
// the artefacts of 85 are invisible, and a photograph takes some 15 KB.
const avatarQuality = 85

// avatarBackground is what a transparent picture is composited onto: the
// stored JPEG has no alpha channel.
var avatarBackground = color.RGBA{R: 0xff, G: 0xff, B: 0xff, A: 0xff}

// The rules of an uploaded avatar, as their messages say them.
const (
	AvatarMissingRule  = "Choose a picture."
	AvatarFormatRule   = "Avatar must be a PNG, JPEG, GIF or WebP picture."
	AvatarDamagedRule  = "Avatar picture is damaged or incomplete."
	AvatarPixelsRule   = "Avatar picture must have at most 40 megapixels."
	AvatarTooLargeRule = "Avatar file must be at most 10 MB."
)

// Avatar is a user's picture as the site stores and serves it: square
// JPEGs re-encoded from the upload, so that no metadata of the original
// (GPS position, camera, thumbnails) survives. Hash, the SHA-256 of Large in
// hex, names it: a new picture is a new address.
type Avatar struct {
	Hash  string
	Large []byte
	Small []byte
}

// Path is the site's address of the avatar, what a user's AvatarURL holds.
func (a *Avatar) Path() string { return AvatarPath(a.Hash) }

// avatarPrefix and avatarExt frame a stored avatar's path.
const (
	avatarPrefix = "/avatars/"
	avatarExt    = ".jpg"
)

// AvatarPath is the site's address of the avatar with hash.
func AvatarPath(hash string) string { return avatarPrefix + hash + avatarExt }

// SmallAvatarURL is the address of the picture at url in AvatarSmallSize:
// a stored avatar's small JPEG, any other address as it is. static/app.js
// makes the same address for the header it updates.
func SmallAvatarURL(url string) string {
	if _, ok := ParseAvatarPath(url); ok {
		return url + "?size=" + strconv.Itoa(AvatarSmallSize)
	}
	return url
}

// ParseAvatarPath returns the hash of a stored avatar's path, and false for
// anything that is not one.
func ParseAvatarPath(path string) (string, bool) {
	name, ok := strings.CutPrefix(path, avatarPrefix)
	if !ok {
		return "", false
	}
	return ParseAvatarName(name)
}

// ParseAvatarName returns the hash of an avatar's file name (<hash>.jpg),
// and false for anything else: only lower-case hex of SHA-256's length.
func ParseAvatarName(name string) (string, bool) {
	hash, ok := strings.CutSuffix(name, avatarExt)
	if !ok || len(hash) != sha256.Size*2 || strings.ToLower(hash) != hash {
		return "", false
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return "", false
	}
	return hash, true
}

func avatarInvalid(rule string) *Error {
	return &Error{Code: EINVALID, Message: rule, Fields: map[string]string{"avatar": rule}}
}

// MakeAvatar turns an uploaded file into an avatar: it checks the header's
// dimensions before decoding (a small file can claim 30000×30000 pixels),
// decodes PNG, JPEG, GIF (its first frame) or WebP, crops the centre
// square, scales it to AvatarSize and AvatarSmallSize with Catmull-Rom,
// turns it upright as the JPEG's EXIF orientation says, and re-encodes it.
// Anything that is not such a picture is EINVALID naming "avatar".
func MakeAvatar(data []byte) (*Avatar, error) {
	if len(data) == 0 {
		return nil, avatarInvalid(AvatarMissingRule)
	}
	if len(data) > MaxAvatarBytes {
		return nil, avatarInvalid(AvatarTooLargeRule)
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(data))
	if errors.Is(err, image.ErrFormat) {
		return nil, avatarInvalid(AvatarFormatRule)
	} else if err != nil || cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, avatarInvalid(AvatarDamagedRule)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxAvatarPixels {
		return nil, avatarInvalid(AvatarPixelsRule)
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, avatarInvalid(AvatarDamagedRule)
	}
	b := src.Bounds()
	side := min(b.Dx(), b.Dy())
	if side <= 0 {
		return nil, avatarInvalid(AvatarDamagedRule)
	}
	// The centre square of the upright picture is the upright centre
	// square: orientation can wait for the small result.
	x0, y0 := b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2
	crop := image.Rect(x0, y0, x0+side, y0+side)
	large := image.NewRGBA(image.Rect(0, 0, AvatarSize, AvatarSize))
	draw.Draw(large, large.Bounds(), image.NewUniform(avatarBackground), image.Point{}, draw.Src)
	draw.CatmullRom.Scale(large, large.Bounds(), src, crop, draw.Over, nil)
	large = orient(large, jpegOrientation(data))
	small := image.NewRGBA(image.Rect(0, 0, AvatarSmallSize, AvatarSmallSize))
	draw.CatmullRom.Scale(small, small.Bounds(), large, large.Bounds(), draw.Src, nil)

	a := &Avatar{}
	if a.Large, err = encodeJPEG(large); err != nil {
		return nil, err
	}
	if a.Small, err = encodeJPEG(small); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(a.Large)
	a.Hash = hex.EncodeToString(sum[:])
	return a, nil
}

func encodeJPEG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: avatarQuality}); err != nil {
		return nil, fmt.Errorf("encode avatar: %w", err)
	}
	return buf.Bytes(), nil
}

// orient returns the square img as it is meant to be seen when its EXIF
// orientation is o (1 to 8, TIFF's numbering): mirrored and rotated.
func orient(img *image.RGBA, o int) *image.RGBA {
	if o < 2 || o > 8 {
		return img
	}
	n := img.Bounds().Dx() - 1
	out := image.NewRGBA(img.Bounds())
	for y := 0; y <= n; y++ {
		for x := 0; x <= n; x++ {
			// (sx, sy) is the stored pixel shown at (x, y).
			var sx, sy int
			switch o {
			case 2: // mirrored
				sx, sy = n-x, y
			case 3: // upside down
				sx, sy = n-x, n-y
			case 4: // mirrored upside down
				sx, sy = x, n-y
			case 5: // mirrored about the main diagonal
				sx, sy = y, x
			case 6: // stored a quarter turn anticlockwise
				sx, sy = y, n-x
			case 7: // mirrored about the other diagonal
				sx, sy = n-y, n-x
			case 8: // stored a quarter turn clockwise
				sx, sy = n-y, x
			}
			i, j := out.PixOffset(x, y), img.PixOffset(sx, sy)
			copy(out.Pix[i:i+4], img.Pix[j:j+4])
		}
	}
	return out
}

// jpegOrientation reads the orientation tag (0x0112) of a JPEG's EXIF
// block, 1 (as stored) when there is none or data is not a JPEG. It reads
// only the segments before the image data, and trusts no offset it has
// not checked.
func jpegOrientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(data); {
		if data[i] != 0xFF {
			return 1
		}
		marker := data[i+1]
		switch {
		case marker == 0xFF: // fill byte
			i++
			continue
		case marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7): // no length
			i += 2
			continue
		case marker == 0xDA || marker == 0xD9: // image data, end
			return 1
		}
		length := int(binary.BigEndian.Uint16(data[i+2:]))
		if length < 2 || i+2+length > len(data) {
			return 1
		}
		segment := data[i+4 : i+2+length]
		if marker == 0xE1 && bytes.HasPrefix(segment, []byte("Exif\x00\x00")) {
			return tiffOrientation(segment[6:])
		}
		i += 2 + length
	}
	return 1
}

// tiffOrientation reads the orientation tag of the first image directory
// of a TIFF structure, EXIF's body.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var order binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		order = binary.LittleEndian
	case "MM":
		order = binary.BigEndian
	default:
		return 1
	}
	if order.Uint16(t[2:]) != 42 {
		return 1
	}
	ifd := int64(order.Uint32(t[4:]))
	if ifd+2 > int64(len(t)) {
		return 1
	}
	count := int64(order.Uint16(t[ifd:]))
	for e := range count {
		at := ifd + 2 + e*12
		if at+12 > int64(len(t)) {
			return 1
		}
		// A SHORT of count 1 sits in the first two bytes of the value.
		if order.Uint16(t[at:]) == 0x0112 && order.Uint16(t[at+2:]) == 3 && order.Uint32(t[at+4:]) == 1 {
			if o := int(order.Uint16(t[at+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}

// SetAvatar stores a and makes it the user's avatar, in one statement: a
// picture already stored (someone else's, the same one again) is marked
// used, so the cleanup keeps it. The user's avatar_url changes, so every
// page of theirs hears of it as of any profile change.
func (s *Users) SetAvatar(ctx context.Context, id int64, a *Avatar) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`WITH stored AS (
		     INSERT INTO avatars (hash, large, small) VALUES ($2, $3, $4)
		     ON CONFLICT (hash) DO UPDATE SET used_at = now()
		     RETURNING hash)
		 UPDATE users SET avatar_url = $5, updated_at = now()
		  WHERE id = $1 AND EXISTS (SELECT 1 FROM stored) RETURNING `+userColumns,
		id, a.Hash, a.Large, a.Small, a.Path()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("set avatar of user %d: %w", id, err)
	}
	return u, nil
}

// RemoveAvatar takes the user's avatar away: the pages show initials.
func (s *Users) RemoveAvatar(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx,
		`UPDATE users SET avatar_url = '', updated_at = now() WHERE id = $1 RETURNING `+userColumns, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, Errorf(ENOTFOUND, "User not found.")
	} else if err != nil {
		return nil, fmt.Errorf("remove avatar of user %d: %w", id, err)
	}
	return u, nil
}

var errNoAvatar = Errorf(ENOTFOUND, "There is no picture at this address.")

// AvatarImage returns the stored JPEG of the avatar with hash, the small
// one when small is set. A hash that is not one asks nothing of the
// database.
func (s *Users) AvatarImage(ctx context.Context, hash string, small bool) ([]byte, error) {
	if _, ok := ParseAvatarName(hash + avatarExt); !ok {
		return nil, errNoAvatar
	}
	var img []byte
	err := s.db.QueryRowContext(ctx,
		`SELECT CASE WHEN $2 THEN small ELSE large END FROM avatars WHERE hash = $1`, hash, small).Scan(&img)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoAvatar
	} else if err != nil {
		return nil, fmt.Errorf("load avatar %s: %w", hash, err)
	}
	return img, nil
}

// DeleteUnusedAvatars deletes, batch at a time, the pictures that no user
// shows and none has been given for AvatarGrace. The condition on used_at
// is the deleted row's own, so PostgreSQL checks it again on a row an
// upload marked used meanwhile, and keeps that row.
func (s *Users) DeleteUnusedAvatars(ctx context.Context, batch int) (int64, error) {
	n, err := deleteBatches(ctx, s.db, batch, `
		DELETE FROM avatars WHERE used_at < now() - make_interval(secs => $2) AND hash IN (
			SELECT a.hash FROM avatars a
			 WHERE a.used_at < now() - make_interval(secs => $2)
			   AND NOT EXISTS (SELECT 1 FROM users u WHERE u.avatar_url = '`+avatarPrefix+`' || a.hash || '`+avatarExt+`')
			 LIMIT $1)`,
		AvatarGrace.Seconds())
	if err != nil {
		return n, fmt.Errorf("delete unused avatars: %w", err)
	}
	return n, nil
}
