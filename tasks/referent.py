"""Referent: at a pronoun, name its antecedent, the last entity that agrees with it, past distractors that do not."""

from __future__ import annotations

import math

import torch

from tasks.base import IGNORE, NO_DISTANCE, Batch, TaskConfigError, random_tokens, require_fraction, require_int
from tasks.instances import InstanceTask, place_instances


class Referent(InstanceTask):
    """Which entity does "it" refer to? "The animal didn't cross the streets because it was too tired."

    A small grammar of three word classes: entities (nouns), each with one value of an agreement feature
    (number: singular or plural, or more values); one pronoun per feature value; and filler words. A
    sentence is fillers with entities sprinkled in (each position an entity with probability entity_prob),
    then the antecedent, then fillers with exactly num_distractors distractor entities whose feature differs
    from the antecedent's, then the pronoun that agrees with the antecedent, then more fillers and entities.
    The pronoun is scored; its answer is the antecedent (one class per entity), the most recent entity that
    agrees with it, and its distance the step back to it. Worked example, one instance (``instances: 1``),
    d = 8, two distractors, words chosen for readability (the generator draws fillers and entities at
    random, so its sentences are not grammatical English):

        position   0    1     2    3    4       5       6      7    8        9     10     11       12  13   14
        inputs     the  cats  saw  the  animal  didn't  cross  the  streets  near  trees  because  it  was  tired
        targets    -    -     -    -    -       -       -      -    -        -     -      -        animal   -    -
        distance   -    -     -    -    -       -       -      -    -        -     -      -        8   -    -

    With ``instances: k`` a sequence interleaves k such stories, told by k disjoint sets of words: every
    entity and pronoun belongs to one story (its token names it, as ``animal:2`` and ``it:2``), and a
    pronoun refers within its own story. Each story has its own antecedent, distractors, pronoun and
    distance (all at d when sampled at one distance d), and no other entity of that story stands between
    its antecedent and its pronoun; background entities belong to random stories. So the k pronouns give
    k labels per sequence, and each is answered by the same rule.

    Without the feature, "the last entity" would name a distractor; entities before the antecedent (``cats``,
    plural here, but either number in general) defeat "the first entity". The pronoun itself tells the
    feature, so the best guess that uses no memory of the sequence names one of the entities_per_feature
    entities with that feature: chance is 1 / entities_per_feature, not 1 / (number of entities). Trained at
    one distance, the antecedent is always exactly d back, so a model may answer by that offset and never use
    agreement; a mixture of distances (train.protocol=mixed) leaves agreement as the only rule that works.
    Natural distribution: each instance's distance in proportion to seq_len - d.

    The seed note's own example: its attention maps are what this task lets the analysis draw. Source of the
    agreement-across-distractors design: Linzen, Dupoux & Goldberg (2016), "Assessing the Ability of LSTMs to
    Learn Syntax-Sensitive Dependencies", TACL 4 (number agreement with attractors).
    """

    def __init__(self, distances, eval_distances=None, seq_len: int = 64, num_distractors: int = 2,
                 num_features: int = 2, entities_per_feature: int = 8, num_fillers: int = 16,
                 entity_prob: float = 0.1, instances: int = 4):
        self.seq_len = require_int("task.seq_len", seq_len, 2)
        self.num_distractors = require_int("task.num_distractors", num_distractors, 0)
        self.num_features = require_int("task.num_features", num_features, 2)
        self.entities_per_feature = require_int("task.entities_per_feature", entities_per_feature, 2)
        self.num_fillers = require_int("task.num_fillers", num_fillers, 1)
        self.entity_prob = require_fraction("task.entity_prob", entity_prob)
        if num_distractors + 2 > seq_len:
            raise TaskConfigError(
                f"task.num_distractors={num_distractors}: the antecedent, the distractors and the pronoun take "
                f"num_distractors + 2 = {num_distractors + 2} positions, more than task.seq_len={seq_len}")
        super().__init__(distances, eval_distances, instances)
        k = self.instances
        self.num_entities = self.num_features * self.entities_per_feature  # entity e has feature e // per_feature
        # tokens: entity e of story i at i * num_entities + e, then the pronoun of feature f in story i at
        # pronoun + i * num_features + f, then the fillers
        self.pronoun = k * self.num_entities
        self.filler = self.pronoun + k * self.num_features
        self.vocab_size = self.filler + self.num_fillers
        self.num_classes = self.num_entities
        self.chance_accuracy = 1.0 / self.entities_per_feature
        self.memoryless_cross_entropy = math.log(self.entities_per_feature)

    @property
    def min_distance(self) -> int:
        return self.num_distractors + 1  # the distractors right between the antecedent and the pronoun

    @property
    def extras_per_instance(self) -> int:
        return self.num_distractors

    def distance_limits(self, distance=None):
        return (f"task.num_distractors={self.num_distractors} sets the minimum, {self.min_distance}; "
                + super().distance_limits(distance))

    def _entities(self, features: torch.Tensor, generator) -> torch.Tensor:
        """Uniform entities with the given feature values (any shape)."""
        which = torch.randint(self.entities_per_feature, features.shape, generator=generator, device=features.device)
        return features * self.entities_per_feature + which

    def _sample(self, batch_size, distance, generator):
        shape, device, k = (batch_size, self.seq_len), generator.device, self.instances
        antecedent_at, pronoun_at, distractor_at = place_instances(distance, self.seq_len, self.num_distractors,
                                                                   generator)  # (B, k) (B, k) (B, k, D)
        # The background: fillers and entities of random stories, but none of a story between its antecedent
        # and its pronoun, where it would be a second candidate or an uncounted distractor.
        story = torch.randint(k, shape, generator=generator, device=device)  # (B, L)
        any_entity = story * self.num_entities + random_tokens(batch_size, self.seq_len, self.num_entities, generator)
        fillers = self.filler + random_tokens(batch_size, self.seq_len, self.num_fillers, generator)
        positions = torch.arange(self.seq_len, device=device)[None, :]  # (1, L)
        inside_own_story = (positions > antecedent_at.gather(1, story)) & (positions < pronoun_at.gather(1, story))
        is_entity = (torch.rand(shape, generator=generator, device=device) < self.entity_prob) & ~inside_own_story
        inputs = torch.where(is_entity, any_entity, fillers)  # (B, L)

        instance = torch.arange(k, device=device)[None, :]  # (1, k)
        feature = torch.randint(self.num_features, (batch_size, k), generator=generator, device=device)
        antecedent = self._entities(feature, generator)  # (B, k)
        shift = torch.randint(1, self.num_features, distractor_at.shape, generator=generator, device=device)
        distractors = self._entities((feature[..., None] + shift) % self.num_features, generator)  # other features
        inputs.scatter_(1, antecedent_at, instance * self.num_entities + antecedent)
        inputs.scatter_(1, distractor_at.flatten(1), (instance[..., None] * self.num_entities + distractors).flatten(1))
        inputs.scatter_(1, pronoun_at, self.pronoun + instance * self.num_features + feature)

        targets = torch.full_like(inputs, IGNORE).scatter_(1, pronoun_at, antecedent)
        distance_map = torch.full_like(inputs, NO_DISTANCE).scatter_(1, pronoun_at, distance)
        return Batch(inputs, targets, distance_map)

    def answer_from_source(self, inputs, rows, sources, positions):
        return inputs[rows, sources] % self.num_entities  # the entity, without its story
