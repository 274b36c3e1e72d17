package inventory

import (
	"context"
	"slices"
	"testing"
)

func npmPackage(name, version string) string {
	return `{"name": "` + name + `", "version": "` + version + `"}`
}

func TestLayersApplyInOrder(t *testing.T) {
	t.Parallel()
	type found struct{ name, version, layer string }
	tests := []struct {
		name   string
		layers func(t *testing.T) []Layer
		want   func(layers []Layer) []found
	}{
		{
			name: "whiteout deletes a lower layer's package",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t,
						text("node_modules/left-pad/package.json", npmPackage("left-pad", "1.3.0")),
						text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.20")),
					),
					gzLayer(t, whiteout("node_modules/.wh.left-pad")),
				}
			},
			want: func(l []Layer) []found { return []found{{"lodash", "4.17.20", l[0].Digest}} },
		},
		{
			name: "whiteout of a file",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.20"))),
					gzLayer(t, whiteout("node_modules/lodash/.wh.package.json")),
				}
			},
			want: func(l []Layer) []found { return nil },
		},
		{
			name: "opaque directory hides lower layers but not its own layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t,
						text("app/node_modules/a/package.json", npmPackage("a", "1.0.0")),
						text("app/node_modules/b/package.json", npmPackage("b", "1.0.0")),
						text("other/node_modules/c/package.json", npmPackage("c", "1.0.0")),
					),
					gzLayer(t,
						text("app/node_modules/before/package.json", npmPackage("before", "2.0.0")),
						whiteout("app/node_modules/.wh..wh..opq"),
						text("app/node_modules/after/package.json", npmPackage("after", "2.0.0")),
					),
				}
			},
			want: func(l []Layer) []found {
				return []found{{"after", "2.0.0", l[1].Digest}, {"before", "2.0.0", l[1].Digest}, {"c", "1.0.0", l[0].Digest}}
			},
		},
		{
			name: "a later layer replaces a file and is the package's layer",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.20"))),
					gzLayer(t, text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.21"))),
				}
			},
			want: func(l []Layer) []found { return []found{{"lodash", "4.17.21", l[1].Digest}} },
		},
		{
			name: "deleted then added again",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.20"))),
					gzLayer(t, whiteout("node_modules/.wh.lodash")),
					gzLayer(t, text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.21"))),
				}
			},
			want: func(l []Layer) []found { return []found{{"lodash", "4.17.21", l[2].Digest}} },
		},
		{
			name: "a file replacing a directory removes what was in it",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.20"))),
					gzLayer(t, text("node_modules/lodash", "not a directory any more")),
				}
			},
			want: func(l []Layer) []found { return nil },
		},
		{
			name: "a symbolic link replacing a directory removes what was in it",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t,
						text("node_modules/lodash/package.json", npmPackage("lodash", "4.17.20")),
						text("opt/lodash/package.json", npmPackage("not-in-node-modules", "1.0.0")),
					),
					gzLayer(t, symlink("node_modules/lodash", "/opt/lodash")),
				}
			},
			want: func(l []Layer) []found { return nil },
		},
		{
			name: "entries written through an in-image symbolic link land at its target",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, symlink("app", "/srv/app"), symlink("srv/app/node_modules", "../modules")),
					gzLayer(t, text("app/node_modules/lodash/package.json", npmPackage("lodash", "4.17.20"))),
				}
			},
			// srv/modules/lodash/package.json is not under node_modules any more.
			want: func(l []Layer) []found { return nil },
		},
		{
			name: "absolute symbolic link stays inside the image",
			layers: func(t *testing.T) []Layer {
				return []Layer{
					gzLayer(t, symlink("usr/lib/node_modules", "/opt/node_modules")),
					gzLayer(t, text("usr/lib/node_modules/lodash/package.json", npmPackage("lodash", "4.17.20"))),
				}
			},
			want: func(l []Layer) []found { return []found{{"lodash", "4.17.20", l[1].Digest}} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lim, clean := scratch(t, Limits{})
			layers := tt.layers(t)
			inv, err := Extract(context.Background(), layers, lim)
			if err != nil {
				t.Fatal(err)
			}
			clean()
			var got []found
			for _, p := range inv.Packages {
				got = append(got, found{p.Name, p.Version, p.Layer})
			}
			if want := tt.want(layers); !slices.Equal(got, want) {
				t.Errorf("got %v\nwant %v", got, want)
			}
		})
	}
}
