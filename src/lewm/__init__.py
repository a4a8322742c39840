"""lewm: LeWorldModel (LeWM) — a JEPA world model trained end-to-end from pixels with two loss
terms (next-embedding MSE + SIGReg), and planning in its latent space."""

__version__ = "0.1.0"
