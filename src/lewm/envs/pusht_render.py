"""Push-T rendering: the scene drawn with PIL from the pose of the agent and the block.

Supersampled drawing then a box-filter downscale: anti-aliased edges keep the block's angle
readable at 64 px. The image frame is the simulator's (x right, y down), scaled by
image_size / 512.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from lewm.envs.pusht_geometry import AGENT_RADIUS, WALL_LO, WALL_RADIUS, WORKSPACE, block_polygons

WHITE = (255, 255, 255)
AGENT_BLUE = (65, 105, 225)
BLOCK_GRAY = (119, 136, 153)
WALL_BLACK = (0, 0, 0)
GOAL_GREEN = (144, 238, 144)


def default_colors() -> dict[str, tuple[int, int, int]]:
    """Colours of the drawable objects (the keys `set_color` accepts)."""
    return {"agent": AGENT_BLUE, "block": BLOCK_GRAY, "wall": WALL_BLACK, "background": WHITE}


def supersampling(image_size: int) -> int:
    """Drawing scale factor for an output of `image_size` pixels (1..4)."""
    return max(1, min(4, 256 // image_size))


def draw_scene(
    image_size: int,
    colors: dict[str, tuple[int, int, int]],
    agent_xy: np.ndarray,
    block_pose: np.ndarray,
    goal_pose: np.ndarray | None = None,
) -> np.ndarray:
    """Render the scene, uint8 (image_size, image_size, 3).

    Args:
        agent_xy: agent centre (2,), px of the 512 workspace.
        block_pose: block origin and angle (3,) (origin: middle of the bar's top edge).
        goal_pose: if given, the goal pose of the T is drawn in light green under the scene
            (videos only: observations for the world model must not contain it).
    """
    ss = supersampling(image_size)
    size = image_size * ss
    k = size / WORKSPACE
    img = Image.new("RGB", (size, size), colors["background"])
    draw = ImageDraw.Draw(img)
    # Walls: everything outside the free interior [7, 504]^2.
    border = max(1, round((WALL_LO + WALL_RADIUS) * k))
    draw.rectangle((0, 0, size - 1, size - 1), outline=colors["wall"], width=border)
    if goal_pose is not None:
        for poly in block_polygons(*goal_pose):
            draw.polygon([tuple(p) for p in poly * k], fill=GOAL_GREEN)
    for poly in block_polygons(*block_pose):
        draw.polygon([tuple(p) for p in poly * k], fill=colors["block"])
    ax, ay, r = agent_xy[0] * k, agent_xy[1] * k, AGENT_RADIUS * k
    draw.ellipse((ax - r, ay - r, ax + r, ay + r), fill=colors["agent"])
    if ss > 1:
        img = img.resize((image_size, image_size), Image.Resampling.BOX)
    return np.asarray(img, dtype=np.uint8)
