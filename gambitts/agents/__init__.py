"""Thompson-sampling agents, batched over a leading replicate axis."""

from gambitts.agents.base import Agent, EmbeddingAgent
from gambitts.agents.ensemble import EnsembleConfig, EnsPoGAMBITTS
from gambitts.agents.stdts import StdTS
from gambitts.agents.two_stage import FoGAMBITTS, PoGAMBITTS, TwoStageAgent

__all__ = [
    "Agent",
    "EmbeddingAgent",
    "EnsPoGAMBITTS",
    "EnsembleConfig",
    "FoGAMBITTS",
    "PoGAMBITTS",
    "StdTS",
    "TwoStageAgent",
]
