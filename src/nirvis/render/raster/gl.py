"""OpenGL rasteriser through moderngl on a headless EGL context.

GL only decides visibility: a fragment shader writes ``gl_PrimitiveID + 1`` into an integer
render target under a depth test; barycentrics are recomputed in torch (see ``common``). On CPU
machines the context is Mesa's llvmpipe; on GPU machines the vendor's EGL.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

_VERTEX = """
#version 330
in vec4 in_pos;
void main() { gl_Position = in_pos; }
"""
_FRAGMENT = """
#version 330
out int tri_id;
void main() { tri_id = gl_PrimitiveID + 1; }
"""
#: Depth-only passes (shadow maps) write no colour: no primitive id to assemble per triangle,
#: which is most of llvmpipe's per-triangle cost besides setup.
_FRAGMENT_DEPTH = """
#version 330
void main() { }
"""


#: meshes (index buffers) kept per context: a render pass alternates between a few (the opaque
#: scene and its per-image subsets, the glasses lenses, the shadow casters)
_CACHED_MESHES = 12


class GlRasterizer:
    """A moderngl EGL context with a cached framebuffer per resolution. One per process/thread."""

    _local = threading.local()

    def __init__(self) -> None:
        import moderngl

        self.ctx = moderngl.create_context(standalone=True, backend="egl")
        self.prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.depth_prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT_DEPTH)
        self._fbo: dict[tuple[int, int], object] = {}
        self._depth_fbo: dict[tuple[int, int], object] = {}
        self._buffers: dict[tuple, tuple] = {}
        self.renderer = self.ctx.info.get("GL_RENDERER", "unknown")

    @classmethod
    def shared(cls) -> "GlRasterizer":
        inst = getattr(cls._local, "instance", None)
        if inst is None:
            inst = cls()
            cls._local.instance = inst
        return inst

    def _framebuffer(self, h: int, w: int):
        fbo = self._fbo.get((h, w))
        if fbo is None:
            color = self.ctx.renderbuffer((w, h), components=1, dtype="i4")
            depth = self.ctx.depth_renderbuffer((w, h))
            fbo = self.ctx.framebuffer(color_attachments=[color], depth_attachment=depth)
            self._fbo[(h, w)] = fbo
        return fbo

    def _depth_framebuffer(self, h: int, w: int):
        """A framebuffer with a depth attachment only (for ``rasterize_depth``)."""
        fbo = self._depth_fbo.get((h, w))
        if fbo is None:
            fbo = self.ctx.framebuffer(depth_attachment=self.ctx.depth_renderbuffer((w, h)))
            self._depth_fbo[(h, w)] = fbo
        return fbo

    def _vao(self, n_vertices: int, tri: np.ndarray, depth_only: bool = False, key: object = None):
        """(vertex buffer, vertex array) for ``tri`` with the id program (or the depth-only one);
        the last ``_CACHED_MESHES`` meshes stay cached (``key``: a cheap stand-in for the bytes of
        ``tri``, which are hashed when None)."""
        prog_name = "depth" if depth_only else "ids"
        key = (prog_name, n_vertices, tri.shape[0], hash(tri.tobytes()) if key is None else key)
        cached = self._buffers.pop(key, None)
        if cached is None:
            vbo = self.ctx.buffer(reserve=n_vertices * 16)
            ibo = self.ctx.buffer(tri.astype(np.int32).tobytes())
            prog = self.depth_prog if depth_only else self.prog
            vao = self.ctx.vertex_array(prog, [(vbo, "4f", "in_pos")], index_buffer=ibo, index_element_size=4)
            cached = (vbo, vao, ibo)
        self._buffers[key] = cached                                  # most recently used last
        while len(self._buffers) > _CACHED_MESHES:
            for obj in self._buffers.pop(next(iter(self._buffers))):
                obj.release()
        return cached[0], cached[1]

    def _draw_sets(self, tri_np: np.ndarray, groups, use, batch: int):
        """Per image: (triangle subset int32 [F'] or None for all, cache key) from the optional
        ``groups`` [(start, end), ...] / ``use`` bool [B, G] hint (see ``raster.rasterize_ids``)."""
        full_key = hash(tri_np.tobytes())
        if groups is None or use is None:
            return [(None, full_key)] * batch
        use_np = np.asarray(use.cpu() if isinstance(use, torch.Tensor) else use, dtype=bool)
        covered = np.zeros(len(tri_np), bool)
        for a, b in groups:
            covered[a:b] = True
        out, made = [], {}
        for k in range(batch):
            combo = tuple(bool(x) for x in use_np[k])
            if all(combo):
                out.append((None, full_key))
                continue
            if combo not in made:
                keep = ~covered
                for (a, b), on in zip(groups, combo):
                    keep[a:b] |= on
                made[combo] = (np.flatnonzero(keep).astype(np.int32), (full_key, combo))
            out.append(made[combo])
        return out

    def rasterize_ids(self, clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                      with_depth: bool = False, groups=None, use=None):
        """int32 [B, H, W] triangle id + 1 (0 = background), row 0 at the top; with ``with_depth``
        also float32 [B, H, W] NDC depth (+inf where empty), as a tuple. ``groups``/``use``: the
        optional hint of ``raster.rasterize_ids`` (triangle ranges an image does not draw)."""
        import moderngl

        h, w = int(resolution[0]), int(resolution[1])
        pos = clip_pos.detach().to("cpu", torch.float32).contiguous().numpy()
        tri_np = tri.detach().to("cpu").numpy()
        fbo = self._framebuffer(h, w)
        fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "<"
        out = np.empty((pos.shape[0], h, w), np.int32)
        depth = np.empty((pos.shape[0], h, w), np.float32) if with_depth else None
        for b, (subset, key) in enumerate(self._draw_sets(tri_np, groups, use, pos.shape[0])):  # one draw per image
            if subset is not None and len(subset) == 0:          # nothing to draw for this image
                out[b] = 0
                if with_depth:
                    depth[b] = np.inf
                continue
            vbo, vao = self._vao(pos.shape[1], tri_np if subset is None else tri_np[subset], key=key)
            vbo.write(pos[b].tobytes())
            fbo.clear(0, 0, 0, 0, depth=1.0)
            vao.render(moderngl.TRIANGLES)
            data = np.frombuffer(fbo.read(components=1, dtype="i4", attachment=0), np.int32).reshape(h, w)[::-1]
            if subset is not None:                 # ids of the subset -> ids of the whole mesh
                data = np.where(data > 0, subset[np.maximum(data - 1, 0)] + 1, 0).astype(np.int32)
            out[b] = data  # GL rows start at the bottom
            if with_depth:
                d = np.frombuffer(fbo.read(components=1, attachment=-1, dtype="f4"), np.float32).reshape(h, w)[::-1]
                depth[b] = np.where(out[b] > 0, d * 2.0 - 1.0, np.inf)  # window depth [0, 1] -> NDC
        ids = torch.from_numpy(out)
        return (ids, torch.from_numpy(depth)) if with_depth else ids

    def rasterize_depth(self, clip_pos: torch.Tensor, tri: torch.Tensor, resolution: tuple[int, int],
                        groups=None, use=None) -> torch.Tensor:
        """float32 [B, H, W] NDC depth of the nearest surface (+inf where empty), row 0 at the top.

        The same values as ``rasterize_ids(..., with_depth=True)[1]``, drawn without a colour
        target and read back once per image: under the ``<`` test against a buffer cleared to
        1.0, a pixel is covered exactly when its stored window depth is below 1.0."""
        import moderngl

        h, w = int(resolution[0]), int(resolution[1])
        pos = clip_pos.detach().to("cpu", torch.float32).contiguous().numpy()
        tri_np = tri.detach().to("cpu").numpy()
        fbo = self._depth_framebuffer(h, w)
        fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        self.ctx.depth_func = "<"
        depth = np.empty((pos.shape[0], h, w), np.float32)
        for b, (subset, key) in enumerate(self._draw_sets(tri_np, groups, use, pos.shape[0])):  # one draw per image
            if subset is not None and len(subset) == 0:          # nothing to draw for this image
                depth[b] = np.inf
                continue
            vbo, vao = self._vao(pos.shape[1], tri_np if subset is None else tri_np[subset], depth_only=True, key=key)
            vbo.write(pos[b].tobytes())
            fbo.clear(depth=1.0)
            vao.render(moderngl.TRIANGLES)
            d = np.frombuffer(fbo.read(components=1, attachment=-1, dtype="f4"), np.float32).reshape(h, w)[::-1]
            depth[b] = np.where(d < 1.0, d * 2.0 - 1.0, np.inf)  # window depth [0, 1] -> NDC
        return torch.from_numpy(depth)
