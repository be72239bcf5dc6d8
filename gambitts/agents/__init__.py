"""Thompson-sampling agents, batched over a leading replicate axis."""

from gambitts.agents.base import Agent
from gambitts.agents.stdts import StdTS
from gambitts.agents.two_stage import FoGAMBITTS, PoGAMBITTS, TwoStageAgent

__all__ = ["Agent", "FoGAMBITTS", "PoGAMBITTS", "StdTS", "TwoStageAgent"]
